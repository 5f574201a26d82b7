"""Optimizers and learning-rate schedulers with torch.optim's names, options and update rules.

    opt = dlbd_lib.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    sched = dlbd_lib.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
"""

from dlbd_lib.optim import lr_scheduler
from dlbd_lib.optim.adam import Adam
from dlbd_lib.optim.adamw import AdamW
from dlbd_lib.optim.optimizer import Optimizer
from dlbd_lib.optim.rmsprop import RMSprop
from dlbd_lib.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "lr_scheduler"]

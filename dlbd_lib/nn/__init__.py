"""Neural-network building blocks with torch.nn's names, shapes and parameter names.

Layers are Modules; their parameters are named as in torch (`Linear.weight` is (out, in),
`Conv2d.weight` is (out_c, in_c, kh, kw), `RNN.weight_ih_l0`, ...), so a torch state_dict
loads into the matching dlbd model and back (see dlbd_lib.torch_bridge).
"""

from dlbd_lib.nn import functional, init, utils
from dlbd_lib.nn.activation import (
    ELU,
    GELU,
    Hardtanh,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from dlbd_lib.nn.attention import MultiheadAttention
from dlbd_lib.nn.container import ModuleDict, ModuleList, Sequential
from dlbd_lib.nn.conv import Conv1d, Conv2d, ConvTranspose2d
from dlbd_lib.nn.dropout import Dropout
from dlbd_lib.nn.linear import Flatten, Identity, Linear, Unflatten
from dlbd_lib.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CosineSimilarity,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from dlbd_lib.nn.module import IncompatibleKeys, Module, Parameter
from dlbd_lib.nn.normalization import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    GroupNorm,
    LayerNorm,
)
from dlbd_lib.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from dlbd_lib.nn.resize import Upsample
from dlbd_lib.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from dlbd_lib.nn.sparse import Embedding
from dlbd_lib.nn.transformer import (
    PositionalEncoding,
    TransformerEncoder,
    TransformerEncoderLayer,
    generate_square_subsequent_mask,
    sinusoidal_positional_encoding,
)

__all__ = [
    "Module", "Parameter", "IncompatibleKeys", "functional", "init", "utils",
    "Linear", "Identity", "Flatten", "Unflatten",
    "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "GELU", "Softmax", "LogSoftmax",
    "SiLU", "ELU", "Softplus", "Hardtanh",
    "Sequential", "ModuleList", "ModuleDict", "Dropout",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "Embedding",
    "GroupNorm",
    "Conv1d", "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
    "Upsample",
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
    "MSELoss", "L1Loss", "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss", "BCELoss",
    "HuberLoss", "SmoothL1Loss", "KLDivLoss", "CosineSimilarity",
    "MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder", "PositionalEncoding",
    "sinusoidal_positional_encoding", "generate_square_subsequent_mask",
]

"""The differentiable operations, one file per family, one small class per op.

Each class has `forward(*arrays)` on numpy arrays and `backward(grad_out)` returning one
gradient per input, with a one-line comment giving the derivative. Gradients may keep the
broadcast shape; the engine (`dlbd_lib.tensor.unbroadcast`) sums them back.
Inputs that are not Tensors (Python numbers, numpy arrays) are constants; no backward
ever writes into `grad_out` (it may be shared). `dlbd_lib.functional` re-exports it all.

    arithmetic   + - * / ** % //, maximum/minimum
    elementwise  exp, log, sin, activations, clip, rounding, isnan, logic, where, cast
    reductions   sum, mean, var/std, amax, prod, cumsum, logsumexp, norm, any/all, argmax
    sorting      max/min along a dim, sort, argsort, topk (values, indices)
    shape        reshape, permute, squeeze, cat/stack, expand, repeat, flip, roll, pad, split
    indexing     x[idx] (torch's rules), x[idx] = v, gather, scatter_add, masked_fill, one_hot
    linalg       matmul, mm, bmm, dot, outer, einsum
    softmax_ops  softmax, log_softmax
"""

from dlbd_lib.ops import (  # noqa: E402
    arithmetic,
    elementwise,
    indexing,
    linalg,
    reductions,
    shape,
    softmax_ops,
    sorting,
)
from dlbd_lib.ops.arithmetic import *  # noqa: F403
from dlbd_lib.ops.elementwise import *  # noqa: F403
from dlbd_lib.ops.indexing import *  # noqa: F403
from dlbd_lib.ops.linalg import *  # noqa: F403
from dlbd_lib.ops.reductions import *  # noqa: F403
from dlbd_lib.ops.shape import *  # noqa: F403
from dlbd_lib.ops.softmax_ops import *  # noqa: F403
from dlbd_lib.ops.sorting import *  # noqa: F403

__all__ = sorted(set(arithmetic.__all__ + elementwise.__all__ + indexing.__all__
                     + linalg.__all__ + reductions.__all__ + shape.__all__
                     + softmax_ops.__all__ + sorting.__all__))

"""antorcha.optim: torch.optim's optimizers and learning-rate schedulers.

Every optimizer updates the parameters in place with fused array passes (no Tensor is
created and no graph recorded per step) and follows torch's update arithmetic, defaults,
state keys and state_dict format.
"""

from antorcha.optim import lr_scheduler
from antorcha.optim.adadelta import Adadelta
from antorcha.optim.adagrad import Adagrad
from antorcha.optim.adam import Adam, AdamW
from antorcha.optim.adamax import Adamax
from antorcha.optim.adamz import AdamZ
from antorcha.optim.asgd import ASGD
from antorcha.optim.lbfgs import LBFGS
from antorcha.optim.nadam import NAdam
from antorcha.optim.optimizer import Optimizer
from antorcha.optim.radam import RAdam
from antorcha.optim.rmsprop import RMSprop
from antorcha.optim.rprop import Rprop
from antorcha.optim.sgd import SGD
from antorcha.optim.sparse_adam import SparseAdam

__all__ = [
    "ASGD",
    "LBFGS",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "AdamZ",
    "Adamax",
    "NAdam",
    "Optimizer",
    "RAdam",
    "RMSprop",
    "Rprop",
    "SparseAdam",
    "lr_scheduler",
]

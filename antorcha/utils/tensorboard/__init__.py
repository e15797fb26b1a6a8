"""antorcha.utils.tensorboard: torch.utils.tensorboard's `SummaryWriter`, writing real TensorBoard event
files through tensorboardX (the optional extra: `pip install 'antorcha[tensorboard]'`)."""

from antorcha.utils.tensorboard.writer import SummaryWriter, tensorboard_unavailable

__all__ = ["SummaryWriter", "tensorboard_unavailable"]

"""antorcha.utils.data: datasets, samplers and the DataLoader, with torch.utils.data's API."""

from antorcha.utils.data import _utils  # noqa: F401 - torch.utils.data._utils.collate is reached for
from antorcha.utils.data._collate import default_collate, default_convert
from antorcha.utils.data.dataloader import DataLoader, get_worker_info
from antorcha.utils.data.dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    StackDataset,
    Subset,
    TensorDataset,
    random_split,
)
from antorcha.utils.data.distributed import DistributedSampler
from antorcha.utils.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "BatchSampler",
    "ChainDataset",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "DistributedSampler",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "StackDataset",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "default_collate",
    "default_convert",
    "get_worker_info",
    "random_split",
]

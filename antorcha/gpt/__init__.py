"""antorcha.gpt: a character-level GPT a learner trains and samples from (`antorcha gpt`)."""

from antorcha.gpt.model import GPT, GPTConfig

__all__ = ["GPT", "GPTConfig"]

"""A nanoGPT-style character model, written in PyTorch's API and nothing else.

Token and position embeddings, `n_layer` blocks of

    x = x + attn(ln_1(x))     # causal self-attention
    x = x + mlp(ln_2(x))      # Linear -> GELU(tanh) -> Linear

then a final LayerNorm and an `lm_head` tied to the token embedding. The attention is either
`F.scaled_dot_product_attention` ("sdpa") or written out with `masked_fill` on a `tril` buffer
("written"), as the lectures teach it; both give the same numbers.

This file imports only `antorcha`, `antorcha.nn` and `antorcha.nn.functional`, under torch's
names, so `antorcha.gpt.twin.load_on(torch)` can run this very source on real PyTorch: tests and
benchmarks compare one model, not two copies of it.

Generation keeps a key/value cache: each new token costs one position, not the whole context.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import antorcha as torch
from antorcha import nn
from antorcha.nn import functional as F


@dataclass
class GPTConfig:
    block_size: int = 64
    vocab_size: int = 65
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True
    attention: str = "sdpa"  # or "written"


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head, self.n_embd, self.dropout = config.n_head, config.n_embd, config.dropout
        self.written = config.attention == "written"
        if self.written:
            causal = torch.tril(torch.ones(config.block_size, config.block_size))
            self.register_buffer("bias", causal.view(1, 1, config.block_size, config.block_size))

    def forward(self, x: Any, cache: list | None = None) -> Any:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        heads = (B, T, self.n_head, C // self.n_head)
        q, k, v = (t.view(heads).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        past = 0
        if cache is not None:  # cache = [k, v] of the positions before these T, or [] at first
            if cache:
                past = cache[0].size(2)
                k, v = torch.cat((cache[0], k), dim=2), torch.cat((cache[1], v), dim=2)
            cache[:] = [k, v]
        y = self._attend(q, k, v, past)  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))

    def _attend(self, q: Any, k: Any, v: Any, past: int) -> Any:
        T, S = q.size(2), k.size(2)
        dropout = self.dropout if self.training else 0.0
        if not self.written:
            # a query at position past + i sees keys 0 .. past + i: causal only when past == 0
            if past == 0:
                return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=T > 1)
            mask = torch.ones(T, S, dtype=torch.bool, device=q.device).tril(diagonal=past)
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))  # (B, nh, T, S)
        att = att.masked_fill(self.bias[:, :, past : past + T, :S] == 0, float("-inf"))
        att = self.attn_dropout(F.softmax(att, dim=-1))
        return att @ v


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Any) -> Any:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: Any, cache: list | None = None) -> Any:
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
                ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2's scaled init of the residual projections
            if name.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: Any) -> None:
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: Any, targets: Any = None, caches: list | None = None) -> tuple:
        """Logits (B, T, V) and the mean cross-entropy over targets (-1 ignored), or None.
        `caches`, one list per block, makes the positions continue from what they hold."""
        T = idx.size(1)
        past = caches[0][0].size(2) if caches and caches[0] else 0
        if past + T > self.config.block_size:
            raise ValueError(f"sequence of length {past + T} > block_size {self.config.block_size}")
        pos = torch.arange(past, past + T, dtype=torch.long, device=idx.device)  # (T,)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for i, block in enumerate(self.transformer.h):
            x = block(x, None if caches is None else caches[i])
        x = self.transformer.ln_f(x)  # (B, T, C)
        if targets is None:
            return self.lm_head(x[:, [-1], :]), None  # only the last position is needed
        logits = self.lm_head(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss

    def configure_optimizers(self, weight_decay: float, learning_rate: float, betas: tuple) -> Any:
        """AdamW with decay on the matrices (dim >= 2) and none on biases and LayerNorm weights."""
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas)

    @torch.no_grad()
    def generate(
        self,
        idx: Any,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        use_cache: bool = True,
        generator: Any = None,
    ) -> Any:
        """Append max_new_tokens sampled tokens to idx (B, T); temperature 0 picks the argmax.
        With use_cache, each step feeds one token while the context fits in block_size; past
        that, the window slides and every position moves, so the window is recomputed."""
        caches: list | None = None
        for _ in range(max_new_tokens):
            if not use_cache or idx.size(1) > self.config.block_size:
                logits, _ = self(idx[:, -self.config.block_size :])
            elif caches is None:
                caches = [[] for _ in self.transformer.h]
                logits, _ = self(idx, caches=caches)
            else:
                logits, _ = self(idx[:, -1:], caches=caches)
            idx = torch.cat((idx, self._pick(logits[:, -1, :], temperature, top_k, generator)), 1)
        return idx

    @staticmethod
    def _pick(logits: Any, temperature: float, top_k: int | None, generator: Any) -> Any:
        if temperature == 0:
            return logits.argmax(dim=-1, keepdim=True)
        logits = logits / temperature
        if top_k is not None:
            v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
            logits = logits.masked_fill(logits < v[:, [-1]], float("-inf"))
        probs = F.softmax(logits, dim=-1)
        return torch.multinomial(probs, num_samples=1, generator=generator)

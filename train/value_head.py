"""The PPO policy: a causal LM with a linear value head on its last hidden state.

TRL used to ship `AutoModelForCausalLMWithValueHead`; trl 1.16 has none, so this is the
small equivalent. The value head reads the last layer's hidden state at every position, so
`values[:, t]` is V(s) of the state whose next token is predicted at position t.

Saved layout (`save_policy`): the language model as usual (a PEFT adapter folder when the
policy is a LoRA model, else a full `save_pretrained` folder) plus `value_head.safetensors`
beside it; `load_value_head` reads it back.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import torch
from torch import nn

VALUE_HEAD_FILE = "value_head.safetensors"


class PolicyWithValueHead(nn.Module):
    """`language_model` (a causal LM, possibly a PeftModel) plus `value_head` (hidden -> 1)."""

    def __init__(self, language_model: nn.Module):
        super().__init__()
        self.language_model = language_model
        hidden_size = language_model.config.hidden_size
        self.value_head = nn.Linear(hidden_size, 1)
        # Small init so the first values are near 0 and do not swamp the early advantages.
        nn.init.normal_(self.value_head.weight, std=1.0 / (hidden_size + 1) ** 0.5 * 0.1)
        nn.init.zeros_(self.value_head.bias)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (logits [B, L, V], values [B, L]) for a batch of token ids."""
        output = self.language_model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            output_hidden_states=True,
            use_cache=False,
            **position_ids_for(self.language_model, attention_mask),
        )
        hidden = output.hidden_states[-1]
        values = self.value_head(hidden.to(self.value_head.weight.dtype)).squeeze(-1)
        return output.logits, values


def position_ids_for(model: nn.Module, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Return {"position_ids": ...} counting from each row's first real token, if the model takes them.

    Queries are left-padded, so positions must start at the first real token, as generate()
    does. BLOOM takes no position ids (ALiBi reads the attention mask): an empty dict.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if "position_ids" not in inspect.signature(base.forward).parameters:
        return {}
    return {"position_ids": (attention_mask.long().cumsum(-1) - 1).clamp(min=0)}


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """Return the list of transformer blocks of a causal LM (Llama, BLOOM, GPT-2, ... or PEFT).

    Found as the ModuleList whose length is config.num_hidden_layers (n_layer for GPT-2).
    Refuses (ValueError) a model where no such list exists.
    """
    config = model.config
    count = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and len(module) == count:
            return module
    raise ValueError(f"cannot find the {count} transformer layers of {type(model).__name__}")


def unfreeze_last_layers(policy: PolicyWithValueHead, num_layers: int) -> list[str]:
    """Make only the last `num_layers` transformer blocks and the value head trainable.

    DiffChat Table 3 (RL column): "Unfreezing Layers: Last 8 layers". For a LoRA policy only
    the LoRA weights inside those blocks train (the frozen base stays frozen). Returns the
    names of the trainable parameters; refuses (ValueError) num_layers < 1.
    """
    if num_layers < 1:
        raise ValueError("at least one transformer layer must be trainable")
    language_model = policy.language_model
    is_lora = hasattr(language_model, "peft_config")
    layers = decoder_layers(language_model)
    unfrozen = {id(p) for layer in list(layers)[-num_layers:] for p in layer.parameters()}
    for name, parameter in language_model.named_parameters():
        wanted = id(parameter) in unfrozen
        if is_lora:
            wanted = wanted and "lora_" in name
        parameter.requires_grad_(wanted)
    for parameter in policy.value_head.parameters():
        parameter.requires_grad_(True)
    return [name for name, p in policy.named_parameters() if p.requires_grad]


class TrainableParameters(nn.Module):
    """A view of the trainable parameters of a module, for small checkpoints.

    Holds the same Parameter objects (no copy), so saving it writes only what PPO changes and
    loading it writes straight into the policy. Dots in names become "__".
    """

    def __init__(self, module: nn.Module):
        super().__init__()
        self.params = nn.ParameterDict(
            {name.replace(".", "__"): p for name, p in module.named_parameters() if p.requires_grad}
        )


def save_policy(policy: PolicyWithValueHead, folder: str | Path, tokenizer=None) -> Path:
    """Save the language model (adapter or full model), the value head and the tokenizer.

    Returns the folder.
    """
    from safetensors.torch import save_model

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    policy.language_model.save_pretrained(str(folder))
    save_model(policy.value_head, str(folder / VALUE_HEAD_FILE))
    if tokenizer is not None:
        tokenizer.save_pretrained(str(folder))
    return folder


def load_value_head(policy: PolicyWithValueHead, folder: str | Path) -> bool:
    """Load `value_head.safetensors` from `folder` into the policy if present; return whether it was."""
    from safetensors.torch import load_model

    path = Path(folder) / VALUE_HEAD_FILE
    if not path.is_file():
        return False
    load_model(policy.value_head, str(path))
    return True

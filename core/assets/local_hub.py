"""A local stand-in for the Hugging Face Hub: the real repositories' file layouts, tiny weights.

Every model repository the registry and the scorers name is rebuilt here from the tiny
random-weight pipelines and scorers, under its real repo id, with its real file names and
config class names (see docs/models.md, "The local hub", for where each layout comes from
and what is not known). It is served two ways, both used by the tests:

- `write_hf_cache(hf_home)`: a Hugging Face cache (`HF_HOME/hub/models--ORG--NAME/{blobs,
  refs/main,snapshots/COMMIT/...}`), what a user who ran `hf download` has; read it with
  `HF_HUB_OFFLINE=1`.
- `LocalHubServer`: an HTTP server on 127.0.0.1 answering the endpoints `huggingface_hub`
  calls to download (`/api/models/...`, `/api/models/.../tree/...`, HEAD/GET
  `/{repo}/resolve/{rev}/{file}` with ETag, X-Repo-Commit, Content-Length and Range), the path
  of a first run online; point `HF_ENDPOINT` at `server.url`. It can cut a file's download
  short (`cut_download`) to test resuming, and logs every request (`requests`).

Weights come in the formats the real repos ship, pickled `.bin`/`.pt`/`.pth` included, so
tests can check that only what the loaders need (safetensors, the right variant) is fetched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from core.assets import build_folder
from core.paths import models_dir

# Bump when a repository's contents change: the built hub is rebuilt.
HUB_VERSION = 5
SEED = 0
_LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".onnx")


def hub_folder() -> Path:
    """Return where the local hub is built: DIFFCHAT_HOME/models/local-hub-vN."""
    return models_dir() / f"local-hub-v{HUB_VERSION}"


def commit_of(repo_id: str) -> str:
    """Return the fixed 40-hex commit the local hub gives `repo_id`'s main branch."""
    return hashlib.sha1(f"{repo_id}@{HUB_VERSION}".encode()).hexdigest()


def etag_of(path: Path) -> str:
    """Return the file's hub ETag: sha256 for LFS files, the git blob sha1 for small text files."""
    data = path.read_bytes()
    if path.name.endswith(_LFS_SUFFIXES):
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


# --- building the repositories --------------------------------------------------------------


def _state(module) -> dict:
    # safetensors and torch.save both want contiguous, unshared tensors.
    return {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}


def _write_pickled_twins(folder: Path) -> None:
    """Write the `.bin` twin of every component safetensors file, as the real repos ship them."""
    import torch
    from safetensors.torch import load_file

    for path in [*folder.glob("*/*.safetensors"), *folder.glob("model*.safetensors")]:
        name = path.name.replace(".safetensors", ".bin")
        if name.startswith("model."):  # transformers: model.safetensors <-> pytorch_model.bin
            name = "pytorch_" + name
        torch.save(load_file(str(path)), path.with_name(name))


def _tiny_safety_checker():
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    torch.manual_seed(SEED)
    config = CLIPConfig(
        text_config={"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "vocab_size": 1000},
        vision_config={"image_size": 32, "patch_size": 8, "hidden_size": 32,
                       "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 2},
        projection_dim=16,
    )  # fmt: skip
    checker = StableDiffusionSafetyChecker(config)
    # Random concept embeddings would flag random images; thresholds this high flag none.
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(1e4)
        checker.special_care_embeds_weights.fill_(1e4)
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32)
    return checker, processor


def _sd_pipeline(seed: int, scheduler, safety: bool, in_channels: int = 4, pipeline_class=None):
    """A tiny SD 1.x-layout pipeline (tiny-sd's parts), re-seeded so fine-tunes differ."""
    import torch
    from diffusers import StableDiffusionPipeline

    from core.assets import tiny_pipelines

    torch.manual_seed(seed)
    parts = tiny_pipelines._sd15_parts(in_channels)
    with torch.no_grad():  # a different seed, so each fine-tune has its own weights
        generator = torch.Generator().manual_seed(seed)
        for module in (parts["unet"], parts["vae"], parts["text_encoder"]):
            for parameter in module.parameters():
                parameter.add_(0.01 * torch.randn(parameter.shape, generator=generator))
    if safety:
        parts["safety_checker"], parts["feature_extractor"] = _tiny_safety_checker()
        parts["requires_safety_checker"] = True
    return (pipeline_class or StableDiffusionPipeline)(scheduler=scheduler, **parts)


def _pndm():
    from diffusers import PNDMScheduler

    # SD 1.5's scheduler/scheduler_config.json
    return PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                         skip_prk_steps=True, set_alpha_to_one=False, steps_offset=1)  # fmt: skip


def _slow_tokenizer_files(folder: Path) -> None:
    """Give tokenizer folders the files the real repos have: vocab.json + merges.txt.

    transformers 5 saves only tokenizer.json; the SD repos (uploaded with transformers 4)
    ship the slow tokenizer's vocab.json, merges.txt and special_tokens_map.json instead.
    """
    from core.assets.clip_vocab import write_clip_tokenizer_files

    for tokenizer in folder.glob("tokenizer*/tokenizer.json"):
        write_clip_tokenizer_files(tokenizer.parent)
        tokenizer.unlink()
        special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
                   "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}  # fmt: skip
        (tokenizer.parent / "special_tokens_map.json").write_text(json.dumps(special, indent=2))


def _save_pipeline(pipeline, folder: Path, fp16: bool, pickled: bool) -> None:
    import torch

    if fp16:  # variant first: the fp32 save then leaves fp32 configs, as the real repos have
        pipeline.to(torch.float16).save_pretrained(folder, variant="fp16", safe_serialization=True)
        pipeline.to(torch.float32)
    pipeline.save_pretrained(folder, safe_serialization=True)
    _slow_tokenizer_files(folder)
    if pickled:
        _write_pickled_twins(folder)


def _single_file(pipeline, path: Path) -> None:
    from safetensors.torch import save_file

    from core.assets.ldm_layout import pipeline_to_ldm

    save_file(pipeline_to_ldm(pipeline), str(path))


def _readme(folder: Path, repo_id: str) -> None:
    (folder / "README.md").write_text(
        f"---\nlicense: other\n---\n# {repo_id} (DiffChat local test hub)\n\n"
        "Tiny random weights in the real repository's file layout. Not a real model.\n"
    )


def _build_sd15(folder: Path) -> None:
    pipeline = _sd_pipeline(SEED, _pndm(), safety=True)
    _save_pipeline(pipeline, folder, fp16=True, pickled=True)
    # The repo also carries the original single-file checkpoints: never fetched by the loader.
    _single_file(pipeline, folder / "v1-5-pruned-emaonly.safetensors")
    (folder / "v1-inference.yaml").write_text(
        "model:\n  target: ldm.models.diffusion.ddpm.LatentDiffusion\n"
    )


def _build_single_file_repo(
    folder: Path, seed: int, filename: str, diffusers_folders: bool
) -> None:
    pipeline = _sd_pipeline(seed, _pndm(), safety=diffusers_folders)
    _single_file(pipeline, folder / filename)
    if diffusers_folders:
        # Realistic Vision's diffusers folders: weights as pickled .bin only (see docs/models.md).
        pipeline.save_pretrained(folder, safe_serialization=True)
        _slow_tokenizer_files(folder)
        _write_pickled_twins(folder)
        for path in folder.glob("*/*.safetensors"):
            path.unlink()


def _build_dreamlike(folder: Path) -> None:
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)  # fmt: skip
    pipeline = _sd_pipeline(SEED + 2, scheduler, safety=True)
    _save_pipeline(pipeline, folder, fp16=False, pickled=True)
    _single_file(pipeline, folder / "dreamlike-photoreal-2.0.safetensors")


def _build_sdxl(folder: Path) -> None:
    from core.assets.tiny_pipelines import build_tiny_sdxl

    pipeline = build_tiny_sdxl()
    _save_pipeline(pipeline, folder, fp16=True, pickled=False)
    shutil.copytree(folder / "vae", folder / "vae_1_0")


def _build_ip2p(folder: Path) -> None:
    from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionInstructPix2PixPipeline

    scheduler = EulerAncestralDiscreteScheduler(beta_start=0.00085, beta_end=0.012,
                                                beta_schedule="scaled_linear", steps_offset=1)  # fmt: skip
    pipeline = _sd_pipeline(SEED + 3, scheduler, safety=True, in_channels=8,
                            pipeline_class=StableDiffusionInstructPix2PixPipeline)  # fmt: skip
    _save_pipeline(pipeline, folder, fp16=False, pickled=True)
    # The original checkpoint beside the folders (diffusers' single-file tests load it).
    _single_file(pipeline, folder / "instruct-pix2pix-00-22000.safetensors")


def _build_sd_turbo(folder: Path) -> None:
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel

    from core.assets import tiny_pipelines

    parts = tiny_pipelines._sd15_parts()
    torch.manual_seed(SEED + 4)
    # SD 2.x UNet traits: linear projections in the transformers, per-level head counts.
    parts["unet"] = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=tiny_pipelines.SAMPLE_SIZE,
        in_channels=4, out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
        attention_head_dim=(2, 4), use_linear_projection=True, norm_num_groups=32,
    )  # fmt: skip
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="trailing")  # fmt: skip
    _save_pipeline(
        StableDiffusionPipeline(scheduler=scheduler, **parts), folder, fp16=True, pickled=False
    )


def _random_lora(unet, target_modules, seed: int) -> dict:
    """Add a random rank-4 LoRA (alpha 4) on `target_modules` to `unet`; return its peft state."""
    import torch
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(seed)
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights="gaussian",
                                target_modules=list(target_modules)))  # fmt: skip
    with torch.no_grad():  # gaussian init leaves lora_B at zero; a no-op LoRA would test nothing
        for name, parameter in unet.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.02)
    return get_peft_model_state_dict(unet)


def _lora_for(unet, folder: Path, weight_name: str, pipeline_class, seed: int) -> None:
    """Save a random LoRA on `unet`'s attention projections, as `save_lora_weights` writes it."""
    state = _random_lora(unet, ["to_q", "to_k", "to_v", "to_out.0"], seed)
    pipeline_class.save_lora_weights(
        folder, unet_lora_layers=state, weight_name=weight_name, safe_serialization=True
    )


# The LCM-LoRA training script's default targets (diffusers examples/consistency_distillation/
# train_lcm_distill_lora_sd_wds.py): attention, transformer projections, feed-forward and the
# resnets' convolutions, not only the attention projections.
LCM_LORA_TARGETS = (
    "to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2",
    "conv1", "conv2", "conv_shortcut", "downsamplers.0.conv", "upsamplers.0.conv", "time_emb_proj",
)  # fmt: skip


def kohya_lora_state(peft_state: dict, alpha: float, prefix: str = "lora_unet") -> dict:
    """Return a peft LoRA state dict in the kohya key layout, with one `.alpha` per layer.

    As the LCM-LoRA script's `get_module_kohya_state_dict` writes it:
    `down_blocks.0.attentions.0.proj_in.lora_A.weight` becomes
    `lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight` (lora_B: `lora_up`).
    """
    import torch

    state = {}
    for key, weight in peft_state.items():
        key = f"{prefix}.{key}".replace("lora_A", "lora_down").replace("lora_B", "lora_up")
        key = key.replace(".", "_", key.count(".") - 2)  # keep ".lora_down.weight"
        state[key] = weight.detach().clone().contiguous()
        if "lora_down" in key:
            state[key.split(".")[0] + ".alpha"] = torch.tensor(float(alpha))
    return state


def _build_lcm_lora_sd15(folder: Path) -> None:
    from safetensors.torch import save_file

    # The real file's keys are kohya-style (`lora_unet_up_blocks_2_attentions_0_proj_in.
    # lora_up.weight`, latent-consistency-model issue #57), not the diffusers/peft names.
    unet = _sd_pipeline(SEED, _pndm(), safety=False).unet  # fits the sd15 repo's UNet
    state = kohya_lora_state(_random_lora(unet, LCM_LORA_TARGETS, SEED + 5), alpha=4)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(state, str(folder / "pytorch_lora_weights.safetensors"))


def _build_sdxl_lora(
    folder: Path, weight_name: str, seed: int, unet_file: str | None = None
) -> None:
    from diffusers import StableDiffusionXLPipeline
    from safetensors.torch import save_file

    from core.assets.tiny_pipelines import build_tiny_sdxl

    folder.mkdir(parents=True, exist_ok=True)
    if unet_file:  # SDXL-Lightning also ships whole distilled UNets (diffusers keys)
        save_file(_state(build_tiny_sdxl().unet), str(folder / unet_file))
    _lora_for(build_tiny_sdxl().unet, folder, weight_name, StableDiffusionXLPipeline, seed)


def _build_blip(folder: Path) -> None:
    import torch
    from transformers import (
        BertTokenizerFast,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,  # fmt: skip
        BlipProcessor,
    )

    words = "a an the of in on with photo picture dog cat house tree sky red blue man woman".split()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", *words]
    vocab_file = folder / "vocab.txt"
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file.write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizerFast(str(vocab_file), bos_token="[DEC]")
    torch.manual_seed(SEED)
    config = BlipConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 37,
                     "num_hidden_layers": 2, "num_attention_heads": 2, "encoder_hidden_size": 32,
                     "bos_token_id": 5, "sep_token_id": 3, "eos_token_id": 3, "pad_token_id": 0},
        vision_config={"image_size": 32, "patch_size": 8, "hidden_size": 32,
                       "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 2},
        projection_dim=16,
    )  # fmt: skip
    BlipForConditionalGeneration(config).save_pretrained(folder, safe_serialization=True)
    image_processor = BlipImageProcessor(size={"height": 32, "width": 32})
    BlipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    _write_pickled_twins(folder)


def _build_hf_clip(folder: Path, model_only: bool = False) -> None:
    from core.assets.tiny_scorers import _build_hf_clip as build_clip

    build_clip(folder)
    _write_pickled_twins(folder)
    if model_only:  # PickScore_v1 takes its processor from the laion repo
        for path in folder.iterdir():
            if path.name not in ("config.json", "model.safetensors", "pytorch_model.bin"):
                path.unlink()


def _open_clip_files(folder: Path, seed: int) -> dict:
    import open_clip
    import torch
    from safetensors.torch import save_file

    from core.assets.tiny_scorers import _open_clip_config

    config = _open_clip_config()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps(config, indent=2))
    torch.manual_seed(seed)
    state = _state(open_clip.CLIP(**config["model_cfg"]))
    save_file(state, str(folder / "open_clip_model.safetensors"))
    return state


def _build_laion_h14(folder: Path) -> None:
    _build_hf_clip(folder)  # transformers CLIPModel + processor files
    _open_clip_files(folder, SEED + 6)


def _build_aesthetic_mlp(folder: Path) -> None:
    import torch

    from core.assets.tiny_scorers import EMBED_DIM
    from core.scoring.aesthetic import build_aesthetic_mlp

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED + 1)
    # The real file is a state dict of an nn.Module whose Sequential is called `layers`.
    state = {f"layers.{k}": v for k, v in _state(build_aesthetic_mlp(EMBED_DIM)).items()}
    torch.save(state, folder / "aesthetic-model.pth")


def _build_hps(folder: Path) -> None:
    import torch

    state = _open_clip_files(folder / "_tmp", SEED + 2)
    shutil.rmtree(folder / "_tmp")
    torch.save({"state_dict": state}, folder / "HPS_v2_compressed.pt")


@dataclass(frozen=True)
class HubRepo:
    """One repository of the local hub: its real id and how to build its files."""

    repo_id: str
    build: object  # Callable[[Path], None]


REPOS: tuple[HubRepo, ...] = (
    HubRepo("stable-diffusion-v1-5/stable-diffusion-v1-5", _build_sd15),
    HubRepo("XpucT/Deliberate", partial(_build_single_file_repo, seed=SEED + 1,
                                        filename="Deliberate_v2.safetensors", diffusers_folders=False)),
    HubRepo("dreamlike-art/dreamlike-photoreal-2.0", _build_dreamlike),
    HubRepo("SG161222/Realistic_Vision_V1.4", partial(_build_single_file_repo, seed=SEED + 7,
                                                      filename="Realistic_Vision_V1.4.safetensors",
                                                      diffusers_folders=True)),
    HubRepo("stabilityai/stable-diffusion-xl-base-1.0", _build_sdxl),
    HubRepo("timbrooks/instruct-pix2pix", _build_ip2p),
    HubRepo("stabilityai/sd-turbo", _build_sd_turbo),
    HubRepo("latent-consistency/lcm-lora-sdv1-5", _build_lcm_lora_sd15),
    HubRepo("latent-consistency/lcm-lora-sdxl",
            partial(_build_sdxl_lora, weight_name="pytorch_lora_weights.safetensors", seed=SEED + 8)),
    HubRepo("ByteDance/SDXL-Lightning",
            partial(_build_sdxl_lora, weight_name="sdxl_lightning_4step_lora.safetensors",
                    seed=SEED + 9, unet_file="sdxl_lightning_4step_unet.safetensors")),
    HubRepo("Salesforce/blip-image-captioning-large", _build_blip),
    HubRepo("openai/clip-vit-large-patch14", _build_hf_clip),
    HubRepo("yuvalkirstain/PickScore_v1", partial(_build_hf_clip, model_only=True)),
    HubRepo("laion/CLIP-ViT-H-14-laion2B-s32B-b79K", _build_laion_h14),
    HubRepo("timm/vit_large_patch14_clip_224.openai", partial(_open_clip_files, seed=SEED)),
    HubRepo("trl-lib/ddpo-aesthetic-predictor", _build_aesthetic_mlp),
    HubRepo("xswu/HPSv2", _build_hps),
)  # fmt: skip


def build_local_hub(root: Path | None = None, force: bool = False, repo_ids=None) -> Path:
    """Build the repositories of `REPOS` (or just `repo_ids`) under `root`; return `root`.

    `root` defaults to `hub_folder()`. Idempotent: a repository already built is kept. Each
    is built in a staging folder and swapped in whole (`build_folder`), so a failed build
    leaves nothing half-written.
    """
    root = root or hub_folder()
    for repo in REPOS:
        if repo_ids is not None and repo.repo_id not in repo_ids:
            continue
        target = root / repo.repo_id
        if target.is_dir() and not force:
            continue

        def build(staging: Path, repo=repo) -> None:
            repo.build(staging)
            if not (staging / "README.md").exists():
                _readme(staging, repo.repo_id)

        build_folder(target, build)
    return root


def repo_files(root: Path, repo_id: str) -> list[str]:
    """Return the repository's file paths (posix, sorted), as the hub's tree lists them."""
    folder = root / repo_id
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


# --- (a) a Hugging Face cache ---------------------------------------------------------------


def write_hf_cache(hf_home: Path, root: Path | None = None, repo_ids=None) -> Path:
    """Lay the hub's repositories out as `hf_home/hub/models--ORG--NAME/...`; return that hub dir.

    Blobs are named by ETag and snapshot files are relative symlinks to them, as
    `huggingface_hub` writes them; `refs/main` holds the commit.
    """
    root = root or hub_folder()
    cache = Path(hf_home) / "hub"
    for repo_id in repo_ids or [r.repo_id for r in REPOS if (root / r.repo_id).is_dir()]:
        commit = commit_of(repo_id)
        repo_cache = cache / ("models--" + repo_id.replace("/", "--"))
        (repo_cache / "refs").mkdir(parents=True, exist_ok=True)
        (repo_cache / "refs" / "main").write_text(commit)
        for relative in repo_files(root, repo_id):
            source = root / repo_id / relative
            blob = repo_cache / "blobs" / etag_of(source)
            blob.parent.mkdir(parents=True, exist_ok=True)
            if not blob.exists():
                shutil.copyfile(source, blob)
            link = repo_cache / "snapshots" / commit / relative
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(os.path.relpath(blob, link.parent))
    return cache


# --- (b) an HTTP server ---------------------------------------------------------------------


@dataclass
class LocalHubServer:
    """The hub's download endpoints on 127.0.0.1 (a thread); use as a context manager.

    `requests` logs (method, path, Range header) of every request. `cut_download(path_part,
    after_bytes, times)` makes the next `times` GETs of a file whose path contains
    `path_part` stop after `after_bytes` bytes and drop the connection; cuts queue up in the
    order they were asked for.
    """

    root: Path = field(default_factory=hub_folder)
    requests: list = field(default_factory=list)
    _cuts: list = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def cut_download(self, path_part: str, after_bytes: int, times: int = 1) -> None:
        """Cut the next `times` downloads of files matching `path_part` after `after_bytes`."""
        self._cuts.append([path_part, after_bytes, times])

    def downloaded(self) -> list[str]:
        """Return the repo/file paths fetched with GET (file downloads only)."""
        return [
            path for method, path, _ in self.requests if method == "GET" and "/resolve/" in path
        ]

    def start(self) -> LocalHubServer:
        handler = partial(_HubHandler, self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LocalHubServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _take_cut(self, path: str) -> int | None:
        for cut in self._cuts:
            if cut[0] in path and cut[2] > 0:
                cut[2] -= 1
                return cut[1]
        return None


class _HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def __init__(self, hub: LocalHubServer, *args, **kwargs):
        self.hub = hub
        super().__init__(*args, **kwargs)

    def log_message(self, format, *args):  # quiet: tests read `hub.requests` instead
        pass

    # -- helpers
    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head=False):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, data, head=False):
        self._send(200, json.dumps(data).encode(), {"Content-Type": "application/json"}, head)

    def _error(self, code: str, message: str, head=False):
        self._send(404, json.dumps({"error": message}).encode(),
                   {"X-Error-Code": code, "X-Error-Message": message,
                    "Content-Type": "application/json"}, head)  # fmt: skip

    def _repo(self, org: str, name: str, revision: str | None):
        repo_id = f"{org}/{name}"
        if not (self.hub.root / repo_id).is_dir():
            return None, "RepoNotFound", f"Repository Not Found for url: {self.path}."
        if revision not in (None, "main", commit_of(repo_id)):
            return None, "RevisionNotFound", f"Invalid rev id: {revision}"
        return repo_id, None, None

    def _entry(self, repo_id: str, relative: str) -> dict:
        path = self.hub.root / repo_id / relative
        size = path.stat().st_size
        entry = {"type": "file", "path": relative, "size": size, "oid": etag_of(path)}
        if relative.endswith(_LFS_SUFFIXES):
            entry["lfs"] = {"oid": entry["oid"], "size": size, "pointerSize": 134}
        return entry

    # -- endpoints
    def do_HEAD(self):
        self._route(head=True)

    def do_GET(self):
        self._route(head=False)

    def _route(self, head: bool):
        url = urlparse(self.path)
        self.hub.requests.append((self.command, unquote(url.path), self.headers.get("Range")))
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        query = parse_qs(url.query)
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            org, name, rest = parts[2], parts[3], parts[4:]
            revision = rest[1] if rest[:1] in (["revision"], ["tree"]) and len(rest) > 1 else None
            repo_id, code, message = self._repo(org, name, revision)
            if repo_id is None:
                return self._error(code, message, head)
            files = repo_files(self.hub.root, repo_id)
            if not rest or rest[0] == "revision":
                blobs = query.get("blobs") == ["True"] or query.get("blobs") == ["true"]
                siblings = [
                    ({"rfilename": f, **{k: v for k, v in self._entry(repo_id, f).items()
                                         if k in ("size", "lfs")}} if blobs else {"rfilename": f})
                    for f in files
                ]  # fmt: skip
                return self._json({"_id": commit_of(repo_id)[:24], "id": repo_id, "modelId": repo_id,
                                   "sha": commit_of(repo_id), "private": False, "disabled": False,
                                   "gated": False, "tags": [], "siblings": siblings}, head)  # fmt: skip
            if rest[0] == "tree":
                prefix = "/".join(rest[2:])
                if prefix and not any(f.startswith(prefix + "/") for f in files):
                    return self._error("EntryNotFound", f"{prefix} does not exist", head)
                recursive = query.get("recursive", ["False"])[0].lower() == "true"
                entries, folders = [], set()
                for f in files:
                    if prefix and not f.startswith(prefix + "/"):
                        continue
                    below = f[len(prefix) + 1 :] if prefix else f
                    if "/" in below and not recursive:
                        folders.add((prefix + "/" if prefix else "") + below.split("/")[0])
                        continue
                    entries.append(self._entry(repo_id, f))
                    if recursive:  # list every folder on the way, as the hub does
                        for depth in range(1, f.count("/") + 1):
                            folders.add("/".join(f.split("/")[:depth]))
                entries += [
                    {"type": "directory", "path": d, "oid": "0" * 40} for d in sorted(folders)
                ]
                return self._json(entries, head)
            return self._error("EntryNotFound", f"unknown endpoint {url.path}", head)
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve(parts[0], parts[1], parts[3], "/".join(parts[4:]), head)
        return self._error("RepoNotFound", f"unknown endpoint {url.path}", head)

    def _resolve(self, org: str, name: str, revision: str, relative: str, head: bool):
        repo_id, code, message = self._repo(org, name, revision)
        if repo_id is None:
            return self._error(code, message, head)
        path = self.hub.root / repo_id / relative
        if not path.is_file():
            return self._error("EntryNotFound", f"{relative} does not exist in {repo_id}", head)
        data = path.read_bytes()
        etag = etag_of(path)
        headers = {"X-Repo-Commit": commit_of(repo_id), "ETag": f'"{etag}"',
                   "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}  # fmt: skip
        if relative.endswith(_LFS_SUFFIXES):
            headers |= {"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": len(data)}
        start, status = 0, 200
        range_header = self.headers.get("Range")
        if range_header and range_header.startswith("bytes=") and not head:
            start = int(range_header[len("bytes=") :].split("-")[0] or 0)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        headers["Content-Length"] = len(body)
        cut = None if head else self.hub._take_cut(f"{repo_id}/{relative}")
        if cut is None:
            return self._send(status, body, headers, head)
        # Announce the whole body, send part of it, drop the connection: a network cut.
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, str(value))
        self.end_headers()
        self.wfile.write(body[:cut])
        self.wfile.flush()
        self.close_connection = True

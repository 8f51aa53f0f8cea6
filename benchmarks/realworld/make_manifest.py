"""Write ``manifest.json``: the real-world corpus cases, from the installed packages.

    python benchmarks/realworld/make_manifest.py [--timm-families N]

- torchvision: every model builder of the classification, segmentation and
  video models (``torchvision.models.list_models``), built with
  ``weights=None`` and a small head; the detection models' backbones with
  their FPN (``resnet_fpn_backbone``, ``mobilenet_backbone``).
- transformers: the architectures of TRANSFORMERS (below), each with a tiny
  configuration of its own ``*Config`` class (``--only-transformers`` rewrites
  that section alone).
- vit_pytorch: the models of lucidrains' vit-pytorch in VIT_PYTORCH (below), a
  package the translator was not shaped on (``--only-vit-pytorch`` rewrites that
  section alone).
- pytorchcv: one model per file of osmr's model zoo (``pytorchcv_cases``), and
  single-model packages (OTHER_PACKAGES: efficientnet_pytorch, mlp-mixer-pytorch),
  added in session 31 as they were (``--only-unseen`` rewrites those sections).
- timm: one small configuration per model family (a family: the first word
  of the model names ``timm.list_models()`` gives, ``resnet`` for
  ``resnet18``). The family's smallest model (parameters counted on the meta
  device) is built as timm's builder builds it: the class ``timm.create_model``
  instantiates, with the constructor arguments its builder passes, written
  as torch source with the imports they need.

Each case gets the smallest input (of a few sizes) its torch model runs on.
The manifest is data: review it like code when it changes.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import functools
import importlib.metadata
import inspect
import json
import math
import re
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = (32, 64, 96, 128, 160, 224)


class NotSource(Exception):
    pass


def to_source(value, imports: set) -> str:
    """``value`` as a torch-code expression (adding the imports it needs to ``imports``)."""
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            return f"float({str(value)!r})"
        return repr(value)
    if isinstance(value, enum.Enum):
        return f"{to_source(type(value), imports)}.{value.name}"
    if isinstance(value, tuple):
        items = [to_source(v, imports) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(to_source(v, imports) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{to_source(k, imports)}: {to_source(v, imports)}" for k, v in value.items()) + "}"
    if isinstance(value, functools.partial):
        imports.add("import functools")
        args = [to_source(value.func, imports)] + [to_source(a, imports) for a in value.args]
        args += [f"{k}={to_source(v, imports)}" for k, v in value.keywords.items()]
        return f"functools.partial({', '.join(args)})"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = to_source(type(value), imports)
        args = [f"{f.name}={to_source(getattr(value, f.name), imports)}" for f in dataclasses.fields(value) if f.init]
        return f"{cls}({', '.join(args)})"
    if inspect.isclass(value) or inspect.isfunction(value) or inspect.isbuiltin(value) or callable(value):
        module = getattr(value, "__module__", None)
        qual = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
        if not module or not qual or "<" in qual:
            raise NotSource(f"cannot name {value!r}")
        if module.startswith("torch.nn.modules") or module == "torch.nn":
            imports.add("import torch.nn as nn")
            return f"nn.{qual}"
        if module == "torch.nn.functional":
            imports.add("import torch.nn.functional as F")
            return f"F.{qual}"
        if module == "torch" or module.startswith("torch._C"):
            imports.add("import torch")
            return f"torch.{qual}"
        head = qual.split(".")[0]
        imports.add(f"from {module} import {head}")
        return qual
    raise NotSource(f"cannot write {type(value).__name__} values")


def try_inputs(model, make, sizes=SIZES) -> str | None:
    """The first input spec the torch model runs on, smallest first."""
    import torch

    model.eval()
    for s in sizes:
        spec = make(s)
        shape = [int(x) for x in re.search(r"\[(.*)\]", spec).group(1).split(",")]
        try:
            with torch.no_grad():
                out = model(torch.randn(*shape))
            leaves = out.values() if isinstance(out, dict) else (out if isinstance(out, (tuple, list)) else [out])
            if all(isinstance(t, torch.Tensor) and torch.isfinite(t).all() for t in leaves):
                return spec
        except Exception:  # noqa: BLE001 - too small for this model: try the next size
            continue
    return None


def torchvision_cases() -> list[dict]:
    import torch
    import torchvision
    from torchvision import models
    from torchvision.models.detection import backbone_utils  # noqa: F401

    cases = []
    groups = [("classification", models, "num_classes=10", "NCHW", lambda s: f"float32[2,3,{s},{s}]"),
              ("segmentation", models.segmentation, "num_classes=5, weights_backbone=None", "NCHW",
               lambda s: f"float32[1,3,{s},{s}]"),
              ("video", models.video, "num_classes=10", "NCTHW", lambda s: f"float32[1,3,{8 if s < 224 else 16},{s},{s}]")]
    for group, module, extra, layout, make in groups:
        for name in models.list_models(module=module):
            fn = models.get_model_builder(name)
            build = f"{name}(weights=None, {extra})"
            torch.manual_seed(0)
            try:
                model = eval(build, {name: fn})
            except Exception as e:  # noqa: BLE001
                print(f"skip torchvision {name}: {e}", file=sys.stderr)
                continue
            spec = try_inputs(model, make, (32, 64, 96, 224) if group != "video" else (64, 112, 224))
            if spec is None:
                print(f"skip torchvision {name}: no input size runs", file=sys.stderr)
                continue
            cases.append({"id": f"torchvision/{name}", "package": "torchvision", "group": group,
                          "module": fn.__module__, "imports": f"from {fn.__module__} import {name}",
                          "build": build, "inputs": [spec], "layouts": [layout]})
            print(f"torchvision {name}: {spec}", file=sys.stderr, flush=True)
    bb = "torchvision.models.detection.backbone_utils"
    for build in ("resnet_fpn_backbone(backbone_name='resnet18', weights=None, trainable_layers=5)",
                  "resnet_fpn_backbone(backbone_name='resnet50', weights=None, trainable_layers=5)",
                  "mobilenet_backbone(backbone_name='mobilenet_v3_small', weights=None, fpn=True, trainable_layers=6)",
                  "mobilenet_backbone(backbone_name='mobilenet_v3_large', weights=None, fpn=True, trainable_layers=6)",
                  "mobilenet_backbone(backbone_name='mobilenet_v2', weights=None, fpn=False, trainable_layers=6)"):
        fn = build.split("(")[0]
        key = build.split("'")[1]
        cases.append({"id": f"torchvision/detection/{fn}_{key}", "package": "torchvision", "group": "detection",
                      "module": bb, "imports": f"from {bb} import {fn}", "build": build,
                      "inputs": ["float32[1,3,64,64]"], "layouts": ["NCHW"]})
    return cases


def _capture(name: str):
    """(model class, constructor kwargs) that timm.create_model(name) uses."""
    import timm
    import timm.models._builder as builder

    got = {}
    original = builder.build_model_with_cfg

    def capture(model_cls, variant, pretrained, pretrained_cfg=None, pretrained_cfg_overlay=None, model_cfg=None,
                feature_cfg=None, pretrained_strict=True, pretrained_filter_fn=None, cache_dir=None,
                kwargs_filter=None, pretrained_model_args=None, **kwargs):
        kwargs = {k: v for k, v in kwargs.items() if k not in (kwargs_filter or ())}
        if model_cfg is not None:
            kwargs = {"cfg": model_cfg, **kwargs}
        got["cls"], got["kwargs"] = model_cls, kwargs
        raise _Captured()

    mods = [m for m in sys.modules.values() if getattr(m, "build_model_with_cfg", None) is original]
    for m in mods:
        m.build_model_with_cfg = capture
    try:
        timm.create_model(name, pretrained=False)
    except _Captured:
        pass
    finally:
        for m in mods:
            m.build_model_with_cfg = original
    return got.get("cls"), got.get("kwargs")


class _Captured(Exception):
    pass


def _small(name: str) -> tuple:
    words = ("test", "atto", "femto", "pico", "nano", "tiny", "xxs", "xs", "mini", "small", "lite", "b0", "s")
    score = next((i for i, w in enumerate(words) if re.search(rf"(^|_|\d){w}", name)), len(words))
    return (score, len(name), name)


def timm_cases(n_families: int) -> list[dict]:
    import timm
    import torch

    import timm.models  # noqa: F401 - every model module imported (their registries filled)

    families: dict[str, list[str]] = {}
    for m in timm.list_models():
        families.setdefault(re.split(r"[_\d]", m)[0], []).append(m)
    cases = []
    for fam in sorted(families):
        best = None
        for name in sorted(families[fam], key=_small)[:8]:
            try:
                cls, kwargs = _capture(name)
                if cls is None:
                    continue
                if "num_classes" in inspect.signature(cls).parameters or "num_classes" in kwargs:
                    kwargs = {**kwargs, "num_classes": 10}
                imports = {f"from {cls.__module__} import {cls.__name__}"}
                args = ", ".join(f"{k}={to_source(v, imports)}" for k, v in kwargs.items())
                with torch.device("meta"):
                    meta = cls(**kwargs)
                n = sum(p.numel() for p in meta.parameters())
            except Exception as e:  # noqa: BLE001
                print(f"  candidate {name}: {type(e).__name__}: {str(e)[:100]}", file=sys.stderr)
                continue
            if best is None or n < best[0]:
                best = (n, name, cls, kwargs, imports, args)
        if best is None:
            print(f"skip timm family {fam}: no candidate builds", file=sys.stderr)
            continue
        n, name, cls, kwargs, imports, args = best
        accepts_size = "img_size" in inspect.signature(cls).parameters and "img_size" not in kwargs
        spec = None
        for s in SIZES:
            kw = {**kwargs, "img_size": s} if accepts_size else kwargs
            try:
                torch.manual_seed(0)
                model = cls(**kw)
            except Exception:  # noqa: BLE001
                continue
            spec = try_inputs(model, lambda s: f"float32[2,3,{s},{s}]", (s,))
            if spec is not None:
                if accepts_size:
                    args = args + (", " if args else "") + f"img_size={s}"
                break
        if spec is None:
            print(f"skip timm family {fam} ({name}): no input size runs", file=sys.stderr)
            continue
        build = f"{cls.__name__}({args})"
        cases.append({"id": f"timm/{fam}", "package": "timm", "group": "timm", "model": name,
                      "params": n, "module": cls.__module__, "imports": "\n".join(sorted(imports)),
                      "build": build, "inputs": [spec], "layouts": ["NCHW"]})
        print(f"timm {fam}: {name} ({n / 1e6:.1f}M) {spec}", file=sys.stderr, flush=True)
        if len(cases) >= n_families:
            break
    return cases


# transformers (issue 14): the architectures whose modeling files translate at parity,
# each with a tiny configuration of its own *Config class: (id, modeling module, class,
# config class, config arguments, inputs, layouts)
_TINY_VIT = "hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, image_size=32, " \
            "patch_size=8, num_labels=3"
_TINY_BERT = "vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, " \
             "max_position_embeddings=64, num_labels=3"
# the corpus compares logits: the decoders' configurations say use_cache=False (the KV cache
# and generation are tests/test_transformers_generation.py's)
_TINY_GPT2 = "vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=0, eos_token_id=0, " \
             "use_cache=False"
# the Llama family: grouped-query attention (2 key/value heads of 4), RoPE; Mistral's and
# Qwen2's sliding windows on (3 keys of 7)
_TINY_LLAMA = "hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, " \
              "num_key_value_heads=2, vocab_size=97, max_position_embeddings=64, use_cache=False"
# encoders and vision models (tests/test_transformers_encoders.py): pixel_values in torch's
# NCHW, the translation's NHWC
_TINY_DISTILBERT = "vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=64, " \
                   "num_labels=3"
_TINY_CONVNEXT = "hidden_sizes=[8, 16], depths=[2, 1], num_stages=2, num_labels=3, image_size=32"
_TINY_RESNET = "embedding_size=8, hidden_sizes=[8, 16], depths=[1, 2], layer_type='bottleneck', num_labels=3"
_TINY_DINOV2 = "hidden_size=32, num_hidden_layers=2, num_attention_heads=4, mlp_ratio=2, image_size=32, " \
               "patch_size=8, num_labels=3"
_TINY_SWIN = "image_size=32, patch_size=4, embed_dim=16, depths=[2, 1], num_heads=[2, 4], window_size=4, " \
             "mlp_ratio=2.0, num_labels=3"
_CLIP_SIZES = "hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, projection_dim=16"
_TINY_CLIP_TEXT = _CLIP_SIZES + ", vocab_size=99, max_position_embeddings=64, bos_token_id=0, eos_token_id=98"
_TINY_CLIP_VISION = _CLIP_SIZES + ", image_size=32, patch_size=8"
_TINY_CLIP = f"text_config=dict({_TINY_CLIP_TEXT}), vision_config=dict({_TINY_CLIP_VISION}), projection_dim=16"
_IMAGE = (["float32[2,3,32,32]"], ["NCHW"])
# encoder-decoders: (input ids or Whisper's log-mel features, attention mask, decoder input ids)
_S2S = "encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4, " \
       "encoder_ffn_dim=37, decoder_ffn_dim=37, d_model=32, vocab_size=99, use_cache=False"
_TINY_T5 = "vocab_size=99, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4, relative_attention_num_buckets=8, " \
           "relative_attention_max_distance=16, decoder_start_token_id=0, pad_token_id=0, use_cache=False"
_TINY_BART = _S2S + ", max_position_embeddings=64"
_TINY_WHISPER = _S2S + ", num_mel_bins=8, max_source_positions=16, max_target_positions=32, pad_token_id=0, " \
                "bos_token_id=1, eos_token_id=2, decoder_start_token_id=1, suppress_tokens=None, " \
                "begin_suppress_tokens=None"
_TOKENS_S2S = (["int32[2,7]:1:99", "int32[2,7]:1:2", "int32[2,5]:1:99"], [None, None, None])
_WHISPER_IN = (["float32[2,8,32]", "int32[2,32]:1:2", "int32[2,5]:1:99"], [None, None, None])
TRANSFORMERS = [
    ("vit", "vit", "ViTForImageClassification", "ViTConfig", _TINY_VIT, ["float32[2,3,32,32]"], ["NCHW"]),
    ("vit-model", "vit", "ViTModel", "ViTConfig", _TINY_VIT, ["float32[2,3,32,32]"], ["NCHW"]),
    ("bert", "bert", "BertForSequenceClassification", "BertConfig", _TINY_BERT,
     ["int32[2,7]:0:99", "int32[2,7]:0:2"], [None, None]),
    ("bert-model", "bert", "BertModel", "BertConfig", _TINY_BERT, ["int32[2,7]:0:99", "int32[2,7]:0:2"], [None, None]),
    ("roberta", "roberta", "RobertaForSequenceClassification", "RobertaConfig", _TINY_BERT + ", pad_token_id=1",
     ["int32[2,7]:2:99", "int32[2,7]:1:2"], [None, None]),
    ("gpt2", "gpt2", "GPT2LMHeadModel", "GPT2Config", _TINY_GPT2, ["int32[2,7]:0:99"], [None]),
    ("gpt2-model", "gpt2", "GPT2Model", "GPT2Config", _TINY_GPT2, ["int32[2,7]:0:99"], [None]),
    ("llama", "llama", "LlamaForCausalLM", "LlamaConfig", _TINY_LLAMA, ["int32[2,7]:0:97"], [None]),
    ("llama-model", "llama", "LlamaModel", "LlamaConfig", _TINY_LLAMA, ["int32[2,7]:0:97"], [None]),
    ("mistral", "mistral", "MistralForCausalLM", "MistralConfig", _TINY_LLAMA + ", sliding_window=3",
     ["int32[2,7]:0:97"], [None]),
    ("qwen2", "qwen2", "Qwen2ForCausalLM", "Qwen2Config",
     _TINY_LLAMA + ", use_sliding_window=True, sliding_window=3, max_window_layers=1", ["int32[2,7]:0:97"], [None]),
    ("qwen3", "qwen3", "Qwen3ForCausalLM", "Qwen3Config", _TINY_LLAMA + ", head_dim=16", ["int32[2,7]:0:97"], [None]),
    ("gemma", "gemma", "GemmaForCausalLM", "GemmaConfig", _TINY_LLAMA + ", head_dim=16", ["int32[2,7]:0:97"], [None]),
    ("gpt_neox", "gpt_neox", "GPTNeoXForCausalLM", "GPTNeoXConfig",
     "hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, vocab_size=97, "
     "max_position_embeddings=64, use_cache=False", ["int32[2,7]:0:97"], [None]),
    ("phi3", "phi3", "Phi3ForCausalLM", "Phi3Config",
     _TINY_LLAMA + ", pad_token_id=0, eos_token_id=2, bos_token_id=1, sliding_window=3", ["int32[2,7]:0:97"], [None]),
    # Gemma 2: soft-capped attention and logits, sliding window on every other layer
    ("gemma2", "gemma2", "Gemma2ForCausalLM", "Gemma2Config",
     _TINY_LLAMA + ", head_dim=16, sliding_window=3, attn_logit_softcapping=5.0, final_logit_softcapping=3.0, "
     "query_pre_attn_scalar=16", ["int32[2,7]:0:97"], [None]),
    ("llama-seqcls", "llama", "LlamaForSequenceClassification", "LlamaConfig", _TINY_LLAMA + ", pad_token_id=0, "
     "num_labels=3", ["int32[2,7]:1:97"], [None]),
    ("distilbert", "distilbert", "DistilBertForSequenceClassification", "DistilBertConfig", _TINY_DISTILBERT,
     ["int32[2,7]:0:99", "int32[2,7]:1:2"], [None, None]),
    ("distilbert-model", "distilbert", "DistilBertModel", "DistilBertConfig", _TINY_DISTILBERT,
     ["int32[2,7]:0:99", "int32[2,7]:1:2"], [None, None]),
    ("convnext", "convnext", "ConvNextForImageClassification", "ConvNextConfig", _TINY_CONVNEXT, *_IMAGE),
    ("convnext-model", "convnext", "ConvNextModel", "ConvNextConfig", _TINY_CONVNEXT, *_IMAGE),
    ("resnet", "resnet", "ResNetForImageClassification", "ResNetConfig", _TINY_RESNET, *_IMAGE),
    ("resnet-model", "resnet", "ResNetModel", "ResNetConfig", _TINY_RESNET, *_IMAGE),
    ("dinov2", "dinov2", "Dinov2ForImageClassification", "Dinov2Config", _TINY_DINOV2, *_IMAGE),
    ("dinov2-model", "dinov2", "Dinov2Model", "Dinov2Config", _TINY_DINOV2, *_IMAGE),
    ("swin", "swin", "SwinForImageClassification", "SwinConfig", _TINY_SWIN, *_IMAGE),
    ("swin-model", "swin", "SwinModel", "SwinConfig", _TINY_SWIN, *_IMAGE),
    ("clip", "clip", "CLIPModel", "CLIPConfig", _TINY_CLIP, ["int32[2,7]:0:98", "float32[2,3,32,32]"],
     [None, "NCHW"]),
    ("clip-text", "clip", "CLIPTextModel", "CLIPTextConfig", _TINY_CLIP_TEXT, ["int32[2,7]:0:99"], [None]),
    ("clip-vision", "clip", "CLIPVisionModel", "CLIPVisionConfig", _TINY_CLIP_VISION, *_IMAGE),
    ("t5", "t5", "T5ForConditionalGeneration", "T5Config", _TINY_T5, *_TOKENS_S2S),
    ("t5-model", "t5", "T5Model", "T5Config", _TINY_T5, *_TOKENS_S2S),
    ("bart", "bart", "BartForConditionalGeneration", "BartConfig", _TINY_BART, *_TOKENS_S2S),
    ("bart-model", "bart", "BartModel", "BartConfig", _TINY_BART, *_TOKENS_S2S),
    ("whisper", "whisper", "WhisperForConditionalGeneration", "WhisperConfig", _TINY_WHISPER, *_WHISPER_IN),
    ("whisper-model", "whisper", "WhisperModel", "WhisperConfig", _TINY_WHISPER, *_WHISPER_IN),
]


def transformers_cases() -> list[dict]:
    """The TRANSFORMERS table as cases, each checked to build and run in torch."""
    import numpy as np
    import torch

    sys.path.insert(0, str(HERE.parent.parent))
    from torch2nnx.verify import make_input

    cases = []
    for cid, model, cls, config, args, inputs, layouts in TRANSFORMERS:
        module = f"transformers.models.{model}.modeling_{model}"
        imports = (f"from transformers.models.{model}.configuration_{model} import {config}\n"
                   f"from {module} import {cls}")
        build = f"{cls}({config}({args}))"
        scope: dict = {}
        exec(imports, scope)
        torch.manual_seed(0)
        m = eval(build, scope).eval()
        rng = np.random.default_rng(0)
        with torch.no_grad():
            m(*[torch.from_numpy(make_input(s, rng)) for s in inputs])
        cases.append({"id": f"transformers/{cid}", "package": "transformers", "group": "transformers",
                      "module": module, "imports": imports, "build": build, "inputs": inputs, "layouts": layouts})
        print(f"transformers {cid}: {build}", file=sys.stderr, flush=True)
    return cases


# vit-pytorch (lucidrains): a third-party package the translator was not shaped on,
# measured as it is: id, module, class, constructor arguments (small), input
_VIT = "image_size=32, patch_size=8, num_classes=10, dim=32, depth=2, heads=2, mlp_dim=48, dim_head=16"
_IMG32, _IMG64 = "float32[2,3,32,32]", "float32[2,3,64,64]"
VIT_PYTORCH = [
    ("vit", "vit", "ViT", _VIT, _IMG32),
    ("simple_vit", "simple_vit", "SimpleViT", _VIT, _IMG32),
    ("cait", "cait", "CaiT", _VIT.replace("depth=2", "depth=2, cls_depth=1"), _IMG32),
    ("deepvit", "deepvit", "DeepViT", _VIT, _IMG32),
    ("t2t", "t2t", "T2TViT", "image_size=32, num_classes=10, dim=32, depth=2, heads=2, mlp_dim=48, dim_head=16, "
     "t2t_layers=((7, 4), (3, 2))", _IMG32),
    ("cct", "cct", "CCT", "img_size=32, embedding_dim=32, n_conv_layers=1, kernel_size=3, stride=1, padding=1, "
     "num_layers=2, num_heads=2, mlp_ratio=1.0, num_classes=10", _IMG32),
    ("cross_vit", "cross_vit", "CrossViT", "image_size=32, num_classes=10, sm_dim=32, lg_dim=48, sm_patch_size=8, "
     "lg_patch_size=16, sm_enc_mlp_dim=32, lg_enc_mlp_dim=32, sm_enc_heads=2, lg_enc_heads=2, lg_enc_depth=1, "
     "depth=1, cross_attn_heads=2, cross_attn_dim_head=16, sm_enc_dim_head=16, lg_enc_dim_head=16, dropout=0.0, "
     "emb_dropout=0.0", _IMG32),
    ("pit", "pit", "PiT", "image_size=32, patch_size=4, num_classes=10, dim=32, depth=(1, 1), heads=2, mlp_dim=48, "
     "dim_head=16", _IMG32),
    ("levit", "levit", "LeViT", "image_size=32, num_classes=10, dim=(16, 32, 48), depth=1, heads=(2, 2, 2), "
     "mlp_mult=2, dim_key=8, dim_value=16", _IMG32),
    ("cvt", "cvt", "CvT", "num_classes=10, s1_emb_dim=16, s2_emb_dim=24, s3_emb_dim=32, s3_depth=1, s2_depth=1, "
     "s2_heads=2, s3_heads=2", _IMG32),
    ("twins_svt", "twins_svt", "TwinsSVT", "num_classes=10, s1_emb_dim=16, s2_emb_dim=24, s3_emb_dim=32, "
     "s4_emb_dim=40, s3_depth=1, s4_depth=1, s1_local_patch_size=2, s2_local_patch_size=2, s3_local_patch_size=2, "
     "s4_local_patch_size=1, s1_global_k=2, s2_global_k=2, s3_global_k=2, s4_global_k=1", _IMG64),
    ("crossformer", "crossformer", "CrossFormer", "dim=(32, 64, 64, 64), depth=(1, 1, 1, 1), "
     "global_window_size=(2, 2, 1, 1), local_window_size=2, num_classes=10", _IMG64),
    ("regionvit", "regionvit", "RegionViT", "dim=(16, 24, 32, 40), depth=(1, 1, 1, 1), window_size=2, "
     "num_classes=10", _IMG64),
    ("scalable_vit", "scalable_vit", "ScalableViT", "num_classes=10, dim=16, depth=(1, 1, 1, 1), heads=(1, 2, 2, 2), "
     "reduction_factor=(2, 2, 1, 1), window_size=(2, 2, 2, 1)", _IMG64),
    ("max_vit", "max_vit", "MaxViT", "num_classes=10, dim=16, depth=(1, 1), dim_head=8, window_size=2, dropout=0.0",
     _IMG32),
    ("nest", "nest", "NesT", "image_size=32, patch_size=4, num_classes=10, dim=32, heads=2, num_hierarchies=2, "
     "block_repeats=(1, 1), dim_head=16", _IMG32),
    ("mobile_vit", "mobile_vit", "MobileViT", "image_size=(64, 64), dims=[16, 24, 32], "
     "channels=[8, 8, 16, 16, 24, 24, 32, 32, 40, 40, 64], num_classes=10, depths=(1, 1, 1)", _IMG64),
    ("parallel_vit", "parallel_vit", "ViT", _VIT, _IMG32),
    ("vit_for_small_dataset", "vit_for_small_dataset", "ViT", _VIT, _IMG32),
    ("simple_vit_1d", "simple_vit_1d", "SimpleViT", _VIT.replace("image_size=32", "seq_len=64"), "float32[2,3,64]"),
    ("vit_1d", "vit_1d", "ViT", _VIT.replace("image_size=32", "seq_len=64"), "float32[2,3,64]"),
    ("vit_3d", "vit_3d", "ViT", "image_size=16, image_patch_size=8, frames=4, frame_patch_size=2, num_classes=10, "
     "dim=32, depth=2, heads=2, mlp_dim=48, dim_head=16", "float32[2,3,4,16,16]"),
    ("rvt", "rvt", "RvT", _VIT, _IMG32),
    ("simple_vit_with_qk_norm", "simple_vit_with_qk_norm", "SimpleViT", _VIT, _IMG32),
    ("simple_vit_with_register_tokens", "simple_vit_with_register_tokens", "SimpleViT", _VIT, _IMG32),
    ("xcit", "xcit", "XCiT", _VIT.replace("depth=2", "depth=2, cls_depth=1"), _IMG32),
]
_LAYOUTS = {3: "NCL", 4: "NCHW", 5: "NCDHW"}


def vit_pytorch_cases() -> list[dict]:
    """The VIT_PYTORCH table as cases, each checked to build and run in torch."""
    import numpy as np
    import torch

    sys.path.insert(0, str(HERE.parent.parent))
    from torch2nnx.verify import make_input

    cases = []
    for cid, mod, cls, args, shape in VIT_PYTORCH:
        imports = f"from vit_pytorch.{mod} import {cls}"
        build = f"{cls}({args})"
        scope: dict = {}
        exec(imports, scope)
        torch.manual_seed(0)
        with torch.no_grad():
            eval(build, scope).eval()(torch.from_numpy(make_input(shape, np.random.default_rng(0))))
        cases.append({"id": f"vit_pytorch/{cid}", "package": "vit_pytorch", "group": "vit_pytorch",
                      "module": f"vit_pytorch.{mod}", "imports": imports, "build": build, "inputs": [shape],
                      "layouts": [_LAYOUTS[shape.count(",") + 1]]})
    return cases


# pytorchcv (osmr's imgclsmob model zoo): 160 model files written apart from torchvision
# and timm, added in session 31 as they are. One case per model file: its smallest
# ImageNet-style builder (parameters counted on the meta device) of at most 30M
# parameters, on the smallest input it runs on (the model's own in_size; images of
# at most 224 pixels a side), with pretrained=False.
PYTORCHCV_MAX_PARAMS = 30e6


def pytorchcv_cases() -> list[dict]:
    import inspect

    import torch

    from pytorchcv import model_provider

    by_file: dict[str, list] = {}
    for name, fn in model_provider._models.items():
        by_file.setdefault(fn.__module__, []).append((name, fn))
    cases = []
    for mod, builders in sorted(by_file.items()):
        best = None
        for name, fn in builders:
            try:
                with torch.device("meta"):
                    n = sum(p.numel() for p in fn(pretrained=False).parameters())
            except Exception:
                continue
            if best is None or n < best[0]:
                best = (n, name, fn)
        if best is None or best[0] > PYTORCHCV_MAX_PARAMS:
            continue
        _, name, fn = best
        torch.manual_seed(0)
        model = fn(pretrained=False).eval()
        size = tuple(getattr(model, "in_size", (224, 224)))
        sizes = [size] if "in_size" in str(inspect.signature(type(model).__init__)) else \
            [(s, s) for s in (64, 96, 128, 224)]
        shape = None
        for h, w in sizes:
            if max(h, w) > 224:
                continue
            try:
                with torch.no_grad():
                    model(torch.zeros(1, 3, h, w))
                shape = f"float32[1,3,{h},{w}]"
                break
            except Exception:
                continue
        if shape is None:
            continue
        cases.append({"id": f"pytorchcv/{name}", "package": "pytorchcv", "group": "pytorchcv", "module": mod,
                      "imports": f"from {mod} import {fn.__name__}", "build": f"{fn.__name__}(pretrained=False)",
                      "inputs": [shape], "layouts": ["NCHW"]})
        print(f"pytorchcv {name}: {shape}", file=sys.stderr, flush=True)
    return cases


# single-model packages, each as its README builds it: (id, module, import, build, input)
OTHER_PACKAGES = [
    ("efficientnet_pytorch/b0", "efficientnet_pytorch.model", "EfficientNet",
     "EfficientNet.from_name('efficientnet-b0', num_classes=10, image_size=64)", "float32[2,3,64,64]"),
    ("efficientnet_pytorch/b0_dynamic", "efficientnet_pytorch.model", "EfficientNet",
     "EfficientNet.from_name('efficientnet-b0', num_classes=10)", "float32[2,3,64,64]"),
    ("mlp_mixer_pytorch/mixer", "mlp_mixer_pytorch.mlp_mixer_pytorch", "MLPMixer",
     "MLPMixer(image_size=32, channels=3, patch_size=8, dim=32, depth=2, num_classes=10)", "float32[2,3,32,32]"),
]


def other_cases() -> list[dict]:
    return [{"id": cid, "package": cid.split("/")[0], "group": "other", "module": mod,
             "imports": f"from {mod} import {name}", "build": build, "inputs": [shape],
             "layouts": [_LAYOUTS[shape.count(",") + 1]]} for cid, mod, name, build, shape in OTHER_PACKAGES]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timm-families", type=int, default=1000)
    ap.add_argument("--no-torchvision", action="store_true")
    ap.add_argument("--no-timm", action="store_true")
    ap.add_argument("--only-transformers", action="store_true",
                    help="rewrite the transformers section only, keeping the manifest's other cases")
    ap.add_argument("--only-vit-pytorch", action="store_true",
                    help="rewrite the vit_pytorch section only, keeping the manifest's other cases")
    ap.add_argument("--only-unseen", action="store_true",
                    help="rewrite the pytorchcv and single-model package sections only, keeping the others")
    ap.add_argument("-o", "--output", type=Path, default=HERE / "manifest.json")
    args = ap.parse_args(argv)
    import timm
    import torch
    import torchvision
    import transformers

    torch.set_num_threads(1)
    import vit_pytorch  # noqa: F401

    cases = []
    unseen = ("pytorchcv", "efficientnet_pytorch", "mlp_mixer_pytorch")
    if args.only_unseen:
        cases = [c for c in json.loads(args.output.read_text())["cases"] if c["package"] not in unseen]
        cases += pytorchcv_cases() + other_cases()
    elif args.only_transformers or args.only_vit_pytorch:
        section = "transformers" if args.only_transformers else "vit_pytorch"
        kept = [c for c in json.loads(args.output.read_text())["cases"] if c["package"] != section]
        made = transformers_cases() if args.only_transformers else vit_pytorch_cases()
        # the section in its place: the transformers cases before vit_pytorch's
        cut = next((i for i, c in enumerate(kept) if section == "transformers" and c["package"] == "vit_pytorch"),
                   len(kept))
        cases = kept[:cut] + made + kept[cut:]
    else:
        if not args.no_torchvision:
            cases += torchvision_cases()
        if not args.no_timm:
            cases += timm_cases(args.timm_families)
        cases += transformers_cases()
        cases += vit_pytorch_cases()
        cases += pytorchcv_cases() + other_cases()
    doc = {"versions": {"torch": torch.__version__.split("+")[0], "torchvision": torchvision.__version__.split("+")[0],
                        "timm": timm.__version__, "transformers": transformers.__version__,
                        "vit_pytorch": importlib.metadata.version("vit-pytorch"),
                        **{p: importlib.metadata.version(p) for p in ("pytorchcv", "efficientnet_pytorch",
                                                                       "mlp-mixer-pytorch")}},
           "tolerance": {"atol": 1e-4, "rtol": 1e-4}, "cases": cases}
    args.output.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{len(cases)} cases -> {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        sys.exit(1)

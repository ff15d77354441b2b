"""Model RoPE configurations: a Hugging Face config, in any of its forms, to a RopeConfig."""
import json
import os

from ._ropekit import RopeConfig, load_hf_config, parse_hf_config


def rope_config(config):
    """A RopeConfig from: a RopeConfig, a dict (config.json's content), a transformers
    PretrainedConfig, the JSON text, or the path of a config.json. Errors name the field."""
    if isinstance(config, RopeConfig):
        return config
    if isinstance(config, dict):
        return parse_hf_config(json.dumps(config))
    if hasattr(config, "to_json_string"):  # transformers.PretrainedConfig, every field included
        return parse_hf_config(config.to_json_string(use_diff=False))
    if isinstance(config, (str, os.PathLike)):
        text = os.fspath(config)
        if text.lstrip().startswith("{"):
            return parse_hf_config(text)
        return load_hf_config(text)
    raise TypeError(f"config: expected a RopeConfig, dict, PretrainedConfig, JSON text or path, "
                    f"got {type(config).__name__}")

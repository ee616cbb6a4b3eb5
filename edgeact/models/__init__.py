"""Model zoo: hierarchical Inflated ResNets (``i3d_r18/34/50/101``), listed by :func:`list_models`
and built by :func:`create_model`."""

from edgeact.models.inflate import inflate_2d_weights, load_2d_state_dict
from edgeact.models.network import HierarchicalI3D, ModelConfig
from edgeact.models.registry import create_model, list_models, model_from_config

__all__ = [
    "HierarchicalI3D", "ModelConfig", "create_model", "inflate_2d_weights",
    "list_models", "load_2d_state_dict", "model_from_config",
]

"""Training configs: dataclass schemas with defaults in code, YAML files, ``a.b=c`` overrides.

The schemas live beside their commands (:mod:`seal_train.engine.pretrain_config`,
:class:`seal_train.engine.probe.ProbeConfig`); loading them is the runtime's one typed loader,
:mod:`seal_ros.config_files`, which the node's parameters use too. Unknown keys and wrongly typed
values are errors, so a typo never silently runs another experiment.
"""

from __future__ import annotations

from seal_ros.config_files import from_dict, load_config, parse_overrides, save_config, to_dict

__all__ = ["from_dict", "load_config", "parse_overrides", "save_config", "to_dict"]

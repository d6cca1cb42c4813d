# Work around a packaging bug of Debian's azure-cli 2.45 (bookworm): its
# python3-azure ships azure.mgmt.network without the 2022-01-01 API version
# that the CLI's "latest" profile names for Microsoft.Network, so every
# "az network ..." command crashes while loading its arguments
# ("AttributeError: 'NoneType' object has no attribute 'standard_medium'").
#
# Python imports sitecustomize at start-up from the first directory on its
# path that has one; the moat tests put this directory on PYTHONPATH for az
# only. It points the profile at 2022-07-01, the nearest version the package
# has (a superset of 2022-01-01's models). The network commands that az 2.45
# generates with AAZ still send api-version=2022-01-01 on the wire: this
# changes which Python models load, not what az asks the server.
#
# Debian's own sitecustomize (apport's exception hook) is not needed by az.
try:
    from azure.cli.core.profiles import ResourceType
    from azure.cli.core.profiles._shared import AZURE_API_PROFILES

    _latest = AZURE_API_PROFILES["latest"]
    if _latest.get(ResourceType.MGMT_NETWORK) == "2022-01-01":
        import importlib.util
        import os

        _spec = importlib.util.find_spec("azure.mgmt.network")  # no import of the package
        _dirs = (_spec and _spec.submodule_search_locations) or []
        if not any(os.path.isdir(os.path.join(d, "v2022_01_01")) for d in _dirs):
            _latest[ResourceType.MGMT_NETWORK] = "2022-07-01"
except ImportError:
    pass

# The same package pairs az 2.45's role commands, written against
# azure-mgmt-authorization 0.61 (operations with a public .config), with
# azure-mgmt-authorization 3.0.0, whose operations keep it as ._config: "az role
# assignment create" crashes ("'RoleAssignmentsOperations' object has no
# attribute 'config'"). When an operations module of the package is imported,
# its classes get .config as another name for ._config (nothing else changes,
# and nothing is imported that az would not import).
try:
    import importlib.abc
    import importlib.machinery
    import sys

    class _ConfigAlias(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if not (name.startswith("azure.mgmt.authorization.") and "._" in name and name.endswith("_operations")):
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is None or spec.loader is None:
                return None
            exec_module = spec.loader.exec_module

            def exec_and_alias(module):
                exec_module(module)
                for cls in vars(module).values():
                    if isinstance(cls, type) and cls.__name__.endswith("Operations") and not hasattr(cls, "config"):
                        cls.config = property(lambda self: self._config)

            spec.loader.exec_module = exec_and_alias
            return spec

    sys.meta_path.insert(0, _ConfigAlias())
except ImportError:
    pass

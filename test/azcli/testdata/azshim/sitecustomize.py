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

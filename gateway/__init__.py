"""The 4G watch gateway: the common Chinese watch text protocol over TCP -> contract v1."""

pytest_plugins = ["iop.pytest_plugin"]

"""placeholder until the app exists"""


def find_app_class():
    import trace_viewer.app.main  # noqa: F401

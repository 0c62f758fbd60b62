"""Stand-in for torch when it is absent: LeRobot's motors path imports torch at module
level only for type names; every name here is an inert placeholder type."""


class _Meta(type):
    def __getattr__(cls, name):
        return _Meta(name, (), {})

    def __call__(cls, *args, **kwargs):
        return cls


def __getattr__(name):
    return _Meta(name, (), {})

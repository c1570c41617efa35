"""Type stubs for `savant_gst`, the module gst-savant provides to stage code."""

from typing import Optional

__version__: str

class CapsInfo:
    """What `on_caps(info)` receives."""

    width: int
    height: int
    format: str
    fps: float
    fps_n: int
    fps_d: int
    caps: str

class Plane:
    """One plane of a frame; supports the buffer protocol (np.asarray)."""

    @property
    def shape(self) -> list[int]: ...

class Frame:
    """One video frame; packed formats support the buffer protocol (np.asarray)."""

    @property
    def pts(self) -> Optional[int]: ...
    @property
    def dts(self) -> Optional[int]: ...
    @property
    def duration(self) -> Optional[int]: ...
    @property
    def offset(self) -> Optional[int]: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def format(self) -> str: ...
    @property
    def strides(self) -> list[int]: ...
    @property
    def writable(self) -> bool: ...
    @property
    def attributes(self) -> dict[str, str | int | float | bool]: ...
    def plane(self, index: int) -> Plane: ...

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

Color = str | tuple[int, int, int] | tuple[int, int, int, int]
Box = tuple[int, int, int, int]

class Object:
    """A detected object, stored as a GstVideoRegionOfInterestMeta."""

    label: str
    x: int
    y: int
    w: int
    h: int
    box: Box
    confidence: Optional[float]
    track_id: Optional[int]
    attributes: dict[str, str | int | float | bool]
    def __init__(
        self,
        label: str,
        box: Box,
        confidence: Optional[float] = None,
        track_id: Optional[int] = None,
        attributes: Optional[dict[str, str | int | float | bool]] = None,
    ) -> None: ...

class Artist:
    """What a savantdrawfunc hook draws with; calls record, Rust draws later."""

    def add_bbox(self, box: tuple[float, float, float, float], border_color: Optional[Color] = None,
                 background_color: Optional[Color] = None, thickness: float = 2.0,
                 padding: float = 0.0) -> None: ...
    def add_rounded_rect(self, box: tuple[float, float, float, float], radius: float,
                         border_color: Optional[Color] = None,
                         background_color: Optional[Color] = None,
                         thickness: float = 2.0) -> None: ...
    def add_text(self, text: str, anchor: tuple[float, float], font_scale: float = 0.5,
                 font_color: Optional[Color] = None, background_color: Optional[Color] = None,
                 border_color: Optional[Color] = None, padding: float = 0.0) -> None: ...
    def add_circle(self, center: tuple[float, float], radius: float,
                   color: Optional[Color] = None, thickness: float = 0.0) -> None: ...
    def add_line(self, start: tuple[float, float], end: tuple[float, float],
                 color: Optional[Color] = None, thickness: float = 1.0) -> None: ...
    def add_polygon(self, points: list[tuple[float, float]], color: Optional[Color] = None,
                    thickness: float = 0.0) -> None: ...
    def blur(self, box: tuple[float, float, float, float]) -> None: ...

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
    @property
    def objects(self) -> list[Object]: ...
    def add_object(
        self,
        label: str,
        box: Box,
        confidence: Optional[float] = None,
        track_id: Optional[int] = None,
        attributes: Optional[dict[str, str | int | float | bool]] = None,
    ) -> Object: ...
    def remove_object(self, obj: Object) -> None: ...
    def plane(self, index: int) -> Plane: ...

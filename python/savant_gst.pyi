"""Type stubs for `savant_gst`, the module gst-savant provides to stage code."""

from typing import Optional, Sequence, SupportsFloat

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
# A box to store: any 4-item sequence (tuple, list, numpy row) of ints or floats,
# numpy's included; float edges are rounded to the nearest pixel as the Artist does.
BoxLike = Sequence[SupportsFloat]
# Attribute values: numpy's bool_, integer and floating scalars are accepted too.
AttributeValue = str | int | float | bool

class Object:
    """A detected object, stored as a GstVideoRegionOfInterestMeta.

    Only what a stage changes is written back; the meta keeps every other param and
    field (a producer's `landmarks`, `label_id`).
    """

    label: str
    x: int
    y: int
    w: int
    h: int
    @property
    def box(self) -> Box: ...
    @box.setter
    def box(self, value: BoxLike) -> None: ...
    confidence: Optional[float]
    track_id: Optional[int]
    attributes: dict[str, AttributeValue]
    @property
    def id(self) -> int:
        """The ROI meta's id, unique on its frame; 0 until the object is on a frame."""
    parent_id: int
    """The id of the object this one belongs to (a face in a person); 0 for none."""
    def __init__(
        self,
        label: str,
        box: BoxLike,
        confidence: Optional[float] = None,
        track_id: Optional[int] = None,
        attributes: Optional[dict[str, AttributeValue]] = None,
        parent_id: int = 0,
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
    def attributes(self) -> dict[str, AttributeValue]: ...
    @property
    def objects(self) -> list[Object]: ...
    def add_object(
        self,
        label: str,
        box: BoxLike,
        confidence: Optional[float] = None,
        track_id: Optional[int] = None,
        attributes: Optional[dict[str, AttributeValue]] = None,
        parent_id: int = 0,
    ) -> Object: ...
    def remove_object(self, obj: Object) -> None: ...
    def plane(self, index: int) -> Plane: ...

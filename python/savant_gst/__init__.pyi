"""Type stubs for `savant_gst`, the module gst-savant provides to stage code."""

from typing import Any, Optional, Sequence, SupportsFloat

__version__: str

class CapsInfo:
    """What `on_caps(info)` receives."""

    width: int
    height: int
    format: str
    fps: float
    fps_n: int
    fps_d: int
    par_n: int
    par_d: int
    colorimetry: str
    caps: str

class Plane:
    """One plane of a frame; supports the buffer protocol (np.asarray), or on CUDA
    frames the CUDA array interface (cupy.asarray, torch.as_tensor)."""

    @property
    def shape(self) -> list[int]: ...
    @property
    def __cuda_array_interface__(self) -> dict[str, Any]: ...
    def __dlpack__(self, *, stream: Any = None, max_version: Optional[tuple[int, int]] = None,
                   dl_device: Optional[tuple[int, int]] = None,
                   copy: Optional[bool] = None) -> Any: ...
    def __dlpack_device__(self) -> tuple[int, int]: ...

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
    model: Optional[str]
    """The stage (model) that made it: the creating element's name unless set;
    what Savant's draw spec prints for {model} and matches rendered_objects units by."""
    def __init__(
        self,
        label: str,
        box: BoxLike,
        confidence: Optional[float] = None,
        track_id: Optional[int] = None,
        attributes: Optional[dict[str, AttributeValue]] = None,
        parent_id: int = 0,
        model: Optional[str] = None,
    ) -> None: ...

BBoxLike = tuple[float, float, float, float] | Any  # or an object with left, top, width, height
Padding = float | tuple[float, float, float, float]  # one for all sides, or (left, top, right, bottom)
AnchorPoint = str | int | Any  # Savant's Position member, its name ("LEFT_TOP") or value (1-9)

class Artist:
    """What a savantdrawfunc hook draws with; calls record, Rust draws later.

    Takes Savant's Artist arguments (positional order, keyword names, RGBA tuples)
    and this plugin's earlier keywords (box, background_color, thickness, points).
    """

    def __init__(self) -> None:
        """An empty artist, to call a draw hook outside the plugin (unit tests)."""

    def add_bbox(self, bbox: Optional[BBoxLike] = None, border_width: Optional[float] = None,
                 border_color: Optional[Color] = None, bg_color: Optional[Color] = None,
                 padding: Optional[Padding] = None, *, box: Optional[BBoxLike] = None,
                 background_color: Optional[Color] = None,
                 thickness: Optional[float] = None) -> None: ...
    def add_rounded_rect(self, bbox: Optional[BBoxLike] = None, radius: float = 0.0,
                         bg_color: Optional[Color] = None, *, box: Optional[BBoxLike] = None,
                         border_color: Optional[Color] = None,
                         background_color: Optional[Color] = None,
                         thickness: float = 2.0) -> None: ...
    def add_text(self, text: str, anchor: tuple[float, float], font_scale: float = 0.5,
                 font_thickness: float = 1.0, font_color: Optional[Color] = None,
                 border_width: Optional[float] = None, border_color: Optional[Color] = None,
                 bg_color: Optional[Color] = None, padding: Optional[Padding] = None,
                 anchor_point_type: Optional[AnchorPoint] = None, *,
                 background_color: Optional[Color] = None) -> tuple[tuple[int, int], int]:
        """Returns Savant's ((width, height), baseline); the anchor is the text's top
        left unless anchor_point_type says otherwise (Savant's default is CENTER)."""
    def add_circle(self, center: tuple[float, float], radius: float,
                   color: Optional[Color] = None, thickness: float = 0.0,
                   line_type: Optional[int] = None) -> None:
        """thickness 0 or negative (cv2.FILLED) fills."""
    def add_line(self, start: tuple[float, float], end: tuple[float, float],
                 color: Optional[Color] = None, thickness: float = 1.0) -> None: ...
    def add_polygon(self, vertices: Optional[list[tuple[float, float]]] = None,
                    line_width: Optional[float] = None, line_color: Optional[Color] = None,
                    bg_color: Optional[Color] = None, *,
                    points: Optional[list[tuple[float, float]]] = None,
                    color: Optional[Color] = None, thickness: Optional[float] = None) -> None:
        """Savant's form: bg_color fill under a line_width (3) line_color (red) outline.
        With color or thickness: the earlier form (thickness 0 fills with color)."""
    def blur(self, bbox: Optional[BBoxLike] = None, padding: Optional[Padding] = None,
             sigma: Optional[float] = None, *, box: Optional[BBoxLike] = None) -> None: ...

class Frame:
    """One video frame; packed formats support the buffer protocol (np.asarray).
    Frames in CUDA memory (video/x-raw(memory:CUDAMemory)) are device arrays
    instead: cupy.asarray(frame), torch.as_tensor(frame, device="cuda")."""

    @staticmethod
    def from_array(array: Any, format: str, writable: bool = True,
                   pts: Optional[int] = None) -> Frame:
        """A frame over a copy of a numpy array, to call a stage outside a pipeline.

        Packed formats take (h, w, channels) uint8 arrays, GRAY8 (h, w) uint8,
        GRAY16_LE (h, w) uint16; I420/YV12/NV12/NV21 take the planes one after
        another as a (h * 3 / 2, w) uint8 array (what cv2.COLOR_BGR2YUV_I420 gives),
        Y444 as (h * 3, w). Writable unless writable=False; attributes and objects
        the stage sets stay readable on the frame.
        """
    @staticmethod
    def from_buffer(buffer: Any, caps: Any) -> Frame:
        """A read-only, zero-copy view of a PyGObject Gst.Buffer with its Gst.Caps
        (or a caps string), e.g. in a pad probe or an appsink callback. Changes to
        attributes and objects are not written to the buffer."""

    @property
    def source_id(self) -> Optional[str]:
        """The source the frame came from (a savantmux pad's source-id), or None."""
        ...
    @property
    def caps(self) -> Optional[CapsInfo]:
        """The caps of the frame's source as savantmux received them (framerate,
        pixel aspect ratio, colorimetry as that source has them), or None without a
        savantmux upstream (the stage's own caps come to on_caps)."""
        ...
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
    def memory(self) -> str:
        """"system" (numpy) or "cuda" (CuPy, PyTorch)."""
    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        """CUDA frames of packed formats: version 3 (shape, typestr, data, strides,
        stream). Absent (AttributeError) on system-memory frames."""
    def __dlpack__(self, *, stream: Any = None, max_version: Optional[tuple[int, int]] = None,
                   dl_device: Optional[tuple[int, int]] = None,
                   copy: Optional[bool] = None) -> Any:
        """CUDA frames of packed formats: a DLPack capsule (torch.from_dlpack)."""
    def __dlpack_device__(self) -> tuple[int, int]:
        """(2, device): kDLCUDA and the device ordinal."""
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
        model: Optional[str] = None,
    ) -> Object: ...
    def remove_object(self, obj: Object) -> None: ...
    def plane(self, index: int) -> Plane: ...

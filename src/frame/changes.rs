//! What Python changed on a frame (attributes, objects), read at the end of the
//! call and written to the outgoing buffer.

// The Frame and what the parent imports.
use super::*;

/// What Python changed on a frame, to be written to the outgoing buffer. One
/// pointer, null for the usual frame Python changed nothing on: the result of every
/// call carries it, and moving 150 bytes per frame through the call path cost more
/// than the allocation a changed frame makes.
#[derive(Debug, Default)]
pub struct FrameChanges(Option<Box<Edits>>);

#[derive(Debug)]
struct Edits {
    attributes: Option<attributes::Edit>,
    objects: Option<objects::Edit>,
}

impl FrameChanges {
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Writes the changes; copies the buffer header only if it is shared.
    pub fn apply(self, buffer: &mut gst::Buffer) {
        let Some(edits) = self.0 else {
            return;
        };
        let buffer = buffer.make_mut();
        if let Some(edit) = edits.attributes {
            attributes::apply(buffer, edit);
        }
        if let Some(edit) = edits.objects {
            objects::apply(buffer, edit);
        }
    }
}

impl Frame {
    /// Everything Python changed (attributes, objects) that differs from the buffer.
    pub(crate) fn changes(&self, py: Python<'_>) -> PyResult<FrameChanges> {
        let attributes = self.changed_attributes(py)?;
        let objects = self.changed_objects(py)?;
        if attributes.is_none() && objects.is_none() {
            return Ok(FrameChanges(None));
        }
        Ok(FrameChanges(Some(Box::new(Edits {
            attributes,
            objects,
        }))))
    }

    fn changed_objects(&self, py: Python<'_>) -> PyResult<Option<objects::Edit>> {
        match self.objects.get(py) {
            Some(objects) => objects.edit(py, &self.buffer),
            None => Ok(None),
        }
    }

    pub(super) fn objects_state(&self, py: Python<'_>) -> PyResult<&objects::Objects> {
        if self.objects.get(py).is_none() {
            let objects =
                objects::Objects::new(py, &self.buffer, (self.layout.width, self.layout.height))?;
            let _ = self.objects.set(py, objects);
        }
        Ok(self.objects.get(py).expect("set above"))
    }

    /// What Python changed in the attributes, when it looked at them.
    pub(crate) fn changed_attributes(&self, py: Python<'_>) -> PyResult<Option<attributes::Edit>> {
        let Some(tracked) = self.attributes.get(py) else {
            return Ok(None);
        };
        tracked.edit(py, attributes::read(&self.buffer), "frame.attributes")
    }
}

"""A stage after a savantmux: records Savant's per-source hooks and frames in order."""
import many_streams_record as record


class Counter:
    def on_source_add(self, source_id):
        record.EVENTS.append(("add", source_id))

    def on_source_eos(self, source_id):
        record.EVENTS.append(("eos", source_id))

    def process_frame(self, frame):
        record.EVENTS.append(("frame", frame.source_id))
        frame.attributes["source"] = frame.source_id

    def on_eos(self):
        record.EVENTS.append(("end", None))

def process_frame(frame):
    return None

/* A C app that uses only GStreamer's API: plays a gst-launch description to EOS
 * (or ERROR) RUNS times, going back to NULL after each, and prints one line per run.
 * Used by tests/hostile_runtime.rs to check that elements which never start Python
 * stop cleanly in a host with no Python of its own.
 *
 * usage: launch_app RUNS "description" */
#include <gst/gst.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s RUNS DESCRIPTION\n", argv[0]);
    return 2;
  }
  gst_init(NULL, NULL);
  int runs = atoi(argv[1]);
  for (int run = 0; run < runs; run++) {
    GError *error = NULL;
    GstElement *pipeline = gst_parse_launch(argv[2], &error);
    if (pipeline == NULL) {
      fprintf(stderr, "parse: %s\n", error ? error->message : "?");
      return 3;
    }
    gst_element_set_state(pipeline, GST_STATE_PLAYING);
    GstBus *bus = gst_element_get_bus(pipeline);
    GstMessage *message = gst_bus_timed_pop_filtered(
        bus, 30 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
    int status = 0;
    if (message == NULL) {
      fprintf(stderr, "run %d: no EOS within 30 s\n", run);
      status = 4;
    } else if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR) {
      GError *err = NULL;
      gst_message_parse_error(message, &err, NULL);
      fprintf(stderr, "run %d: ERROR %s\n", run, err->message);
      g_error_free(err);
      status = 5;
    }
    if (message != NULL)
      gst_message_unref(message);
    gst_object_unref(bus);
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(pipeline);
    if (status != 0)
      return status;
    printf("run %d: EOS\n", run);
  }
  gst_deinit();
  return 0;
}

/* A C app that uses only GStreamer's own API (GstAnalytics) around savantpyfunc.
 *
 *   analytics_app STAGE.py edit      the stage removes a detection and adds one
 *   analytics_app STAGE.py readonly  the stage only reads
 *
 * A pad probe ahead of the stage attaches a GstAnalyticsRelationMeta per buffer:
 * "car" (10,20,100,50; 0.75) with tracking id 7 and a classification "red" 0.9,
 * "plate" (30,40,20,10; 0.5) that IS_PART_OF the car, and a tracking mtd 99 that no
 * detection refers to. After the stage, videoscale doubles the frame; the appsink
 * side checks what GStreamer's analytics API reads. Prints "analytics ok: N" and
 * exits 0, or prints what differs and exits 1. */
#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/analytics/analytics.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf (stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                    \
      fprintf (stderr, __VA_ARGS__);                                           \
      fprintf (stderr, "\n");                                                  \
      failures++;                                                              \
    }                                                                          \
  } while (0)

static GstPadProbeReturn
produce (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  GstBuffer *buffer = gst_buffer_make_writable (GST_PAD_PROBE_INFO_BUFFER (info));
  GstAnalyticsRelationMeta *meta = gst_buffer_add_analytics_relation_meta (buffer);
  GstAnalyticsODMtd car, plate;
  GstAnalyticsTrackingMtd track, loose;
  GstAnalyticsClsMtd cls;
  GQuark red = g_quark_from_string ("red");
  gfloat level = 0.9f;

  gst_analytics_relation_meta_add_od_mtd (meta, g_quark_from_string ("car"),
      10, 20, 100, 50, 0.75f, &car);
  gst_analytics_relation_meta_add_tracking_mtd (meta, 7,
      GST_BUFFER_PTS (buffer), &track);
  gst_analytics_relation_meta_set_relation (meta,
      GST_ANALYTICS_REL_TYPE_RELATE_TO, car.id, track.id);
  gst_analytics_relation_meta_add_cls_mtd (meta, 1, &level, &red, &cls);
  gst_analytics_relation_meta_set_relation (meta,
      GST_ANALYTICS_REL_TYPE_RELATE_TO, car.id, cls.id);
  gst_analytics_relation_meta_add_od_mtd (meta, g_quark_from_string ("plate"),
      30, 40, 20, 10, 0.5f, &plate);
  gst_analytics_relation_meta_set_relation (meta,
      GST_ANALYTICS_REL_TYPE_IS_PART_OF, plate.id, car.id);
  gst_analytics_relation_meta_set_relation (meta,
      GST_ANALYTICS_REL_TYPE_CONTAIN, car.id, plate.id);
  gst_analytics_relation_meta_add_tracking_mtd (meta, 99, 0, &loose);
  GST_PAD_PROBE_INFO_DATA (info) = buffer;
  return GST_PAD_PROBE_OK;
}

/* The detection labelled `label`, or FALSE. */
static gboolean
find_od (GstAnalyticsRelationMeta * meta, const char *label,
    GstAnalyticsODMtd * out)
{
  gpointer state = NULL;
  int found = 0;
  GstAnalyticsMtd mtd;
  while (gst_analytics_relation_meta_iterate (meta, &state,
          gst_analytics_od_mtd_get_mtd_type (), &mtd)) {
    if (gst_analytics_od_mtd_get_obj_type (&mtd) == g_quark_from_string (label)) {
      *out = mtd;
      found++;
    }
  }
  CHECK (found <= 1, "%d detections labelled %s", found, label);
  return found == 1;
}

static void
check_box (GstAnalyticsODMtd * od, const char *label, gint x, gint y, gint w,
    gint h, gfloat confidence)
{
  gint bx, by, bw, bh;
  gfloat c;
  gst_analytics_od_mtd_get_location (od, &bx, &by, &bw, &bh, &c);
  CHECK (bx == x && by == y && bw == w && bh == h,
      "%s box %d,%d,%d,%d, expected %d,%d,%d,%d", label, bx, by, bw, bh, x, y,
      w, h);
  CHECK (c > confidence - 1e-4 && c < confidence + 1e-4,
      "%s confidence %f, expected %f", label, c, confidence);
}

/* The tracking id related to `od` (RELATE_TO), or -1. */
static gint64
track_of (GstAnalyticsRelationMeta * meta, GstAnalyticsODMtd * od,
    GstClockTime * first_seen)
{
  gpointer state = NULL;
  GstAnalyticsMtd trk;
  guint64 id;
  if (!gst_analytics_relation_meta_get_direct_related (meta, od->id,
          GST_ANALYTICS_REL_TYPE_RELATE_TO,
          gst_analytics_tracking_mtd_get_mtd_type (), &state, &trk))
    return -1;
  gst_analytics_tracking_mtd_get_info (&trk, &id, first_seen, NULL, NULL);
  return (gint64) id;
}

static void
check_buffer (GstBuffer * buffer, gboolean edit)
{
  GstAnalyticsRelationMeta *meta = gst_buffer_get_analytics_relation_meta (buffer);
  GstAnalyticsODMtd car, plate, person;
  GstClockTime first_seen = GST_CLOCK_TIME_NONE;
  gpointer state = NULL;
  GstAnalyticsMtd mtd;
  gboolean loose = FALSE;

  CHECK (meta != NULL, "no relation meta after the stage");
  if (meta == NULL)
    return;
  /* videoscale doubled the frame: boxes double too. */
  if (!find_od (meta, "car", &car)) {
    CHECK (FALSE, "no car");
    return;
  }
  check_box (&car, "car", 20, 40, 200, 100, 0.75f);
  CHECK (track_of (meta, &car, &first_seen) == 7, "car's tracking id");
  CHECK (first_seen == GST_BUFFER_PTS (buffer),
      "car's first-seen %" GST_TIME_FORMAT " was not kept",
      GST_TIME_ARGS (first_seen));
  state = NULL;
  CHECK (gst_analytics_relation_meta_get_direct_related (meta, car.id,
          GST_ANALYTICS_REL_TYPE_RELATE_TO,
          gst_analytics_cls_mtd_get_mtd_type (), &state, &mtd),
      "car lost its classification");
  CHECK (gst_analytics_cls_mtd_get_quark (&mtd, 0) == g_quark_from_string ("red"),
      "car's class");
  state = NULL;
  while (gst_analytics_relation_meta_iterate (meta, &state,
          gst_analytics_tracking_mtd_get_mtd_type (), &mtd)) {
    guint64 id;
    gst_analytics_tracking_mtd_get_info (&mtd, &id, NULL, NULL, NULL);
    loose |= id == 99;
  }
  CHECK (loose, "the tracking mtd no detection refers to is gone");

  if (!edit) {
    CHECK (find_od (meta, "plate", &plate), "a read-only stage lost the plate");
    CHECK (gst_buffer_get_custom_meta (buffer, "SavantAnalyticsLinks") == NULL,
        "a read-only stage wrote links");
    return;
  }
  CHECK (!find_od (meta, "plate", &plate), "the removed plate is still there");
  if (!find_od (meta, "person", &person)) {
    CHECK (FALSE, "the stage's person is missing");
    return;
  }
  check_box (&person, "person", 100, 120, 40, 60, 0.6f);
  CHECK (track_of (meta, &person, &first_seen) == 3, "person's tracking id");
  CHECK (gst_analytics_relation_meta_get_relation (meta, person.id, car.id)
      == GST_ANALYTICS_REL_TYPE_IS_PART_OF, "person is not part of the car");
  CHECK (gst_analytics_relation_meta_get_relation (meta, car.id, person.id)
      == GST_ANALYTICS_REL_TYPE_CONTAIN, "car does not contain the person");
}

int
main (int argc, char **argv)
{
  GstElement *pipeline, *producer, *sink;
  GstPad *pad;
  gchar *description;
  gboolean edit;
  int buffers = 0;
  GstSample *sample;
  GstBus *bus;
  GstMessage *msg;

  gst_init (&argc, &argv);
  if (argc != 3) {
    fprintf (stderr, "usage: %s STAGE.py edit|readonly\n", argv[0]);
    return 2;
  }
  edit = strcmp (argv[2], "edit") == 0;
  description = g_strdup_printf ("videotestsrc num-buffers=5 pattern=black "
      "! video/x-raw,format=RGBA,width=320,height=240 ! identity name=producer "
      "! savantpyfunc module=%s class-name=Stage ! videoscale "
      "! video/x-raw,width=640,height=480 ! appsink name=sink sync=false",
      argv[1]);
  pipeline = gst_parse_launch (description, NULL);
  g_free (description);
  if (pipeline == NULL) {
    fprintf (stderr, "cannot build the pipeline (is savantpyfunc on GST_PLUGIN_PATH?)\n");
    return 1;
  }
  producer = gst_bin_get_by_name (GST_BIN (pipeline), "producer");
  pad = gst_element_get_static_pad (producer, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, produce, NULL, NULL);
  gst_object_unref (pad);
  gst_object_unref (producer);
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");

  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  while ((sample = gst_app_sink_pull_sample (GST_APP_SINK (sink))) != NULL) {
    check_buffer (gst_sample_get_buffer (sample), edit);
    gst_sample_unref (sample);
    buffers++;
  }
  bus = gst_element_get_bus (pipeline);
  msg = gst_bus_timed_pop_filtered (bus, 10 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  if (msg == NULL || GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *err = NULL;
    gchar *debug = NULL;
    if (msg != NULL)
      gst_message_parse_error (msg, &err, &debug);
    fprintf (stderr, "FAIL: %s\n%s\n", err ? err->message : "no EOS",
        debug ? debug : "");
    failures++;
  }
  if (msg)
    gst_message_unref (msg);
  gst_object_unref (bus);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  CHECK (buffers == 5, "%d buffers", buffers);
  if (failures)
    return 1;
  printf ("analytics ok: %d\n", buffers);
  return 0;
}

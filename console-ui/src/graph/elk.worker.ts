// The layout thread: elkjs's own worker script, which answers the messages of elkjs's API
// (layout.ts) so that laying out a 2,000-node flow never blocks the page.
import "elkjs/lib/elk-worker.min.js";

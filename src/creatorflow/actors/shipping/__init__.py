"""The shipping capability's actors: the carrier pool (labels, voids, tracking updates; the
single writer of shipments), the label saga step and the tracking poller."""

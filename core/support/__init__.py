"""Small helpers every part of core uses: clocks and time, backoff, log-once incidents, text cutting."""

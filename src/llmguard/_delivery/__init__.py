"""Getting records out of the process: settings, the pipeline, sink lanes, processing.

Spans hand finished work to `pipeline.submit`; a background thread turns it into
records, samples and redacts them, and feeds each sink on its own lane.
"""

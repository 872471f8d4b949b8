"""Development tools: the traffic simulator, the labelled evaluation, the demo runner and the
embedded broker. The product never imports them, except for the CLI commands that run them
(`tocsin simulate`, `tocsin demo`, `tocsin broker`), and then only when they are called."""

"""The BentoML service: loads registered models by alias and answers over HTTP; never imports `training`."""

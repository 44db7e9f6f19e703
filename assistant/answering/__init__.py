"""Answering: the service, the LCEL chain, prompts, citations and their support check, the context budget and
the offline extractive answerer (with how it reads questions and cuts passages into quotable units)."""

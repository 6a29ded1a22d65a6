# Shortcuts for those who have make; tasks.py needs nothing but Python.
.PHONY: dev test
dev:
	python3 tasks.py dev
test:
	python3 tasks.py test

"""``python -m din_tutorial.datasets [--out DIR]``: regenerate data/amazon_electronics_sample*.csv and print their sha256."""
from din_tutorial.datasets.sample import main

main()

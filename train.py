"""Train BERT on a text-classification CSV.  python train.py -m freeze=none,all,last2 'seed=range(10)'"""

from bertfreeze.cli.train import main

if __name__ == "__main__":
    main()

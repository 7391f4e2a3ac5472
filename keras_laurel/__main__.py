import sys

from keras_laurel.cli import main

sys.exit(main())

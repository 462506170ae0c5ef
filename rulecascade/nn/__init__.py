"""Early exits inside torch and ONNX networks (the ``torch`` extra): rules on pooled
activations answer rows and the rest of the network runs only for the others.

``import rulecascade`` never imports this package; ``rulecascade.nn`` imports torch only when a
torch model is cut.
"""

from .certify import CascadeCertificate
from .early_exit import EarlyExit, TooFewRowsWarning
from .errors import CutError

__all__ = ["CascadeCertificate", "CutError", "EarlyExit", "TooFewRowsWarning"]

"""Export layer: a network as a plain torch module, its ground truth, and saving/loading it.

A method that decomposes networks (sparse dictionaries, attribution, circuit discovery) needs
test models whose computation is known exactly. A constructed network is one:

- :func:`to_module` turns a :class:`circuits.Network` into a ``torch.nn.Module``, a stack of
  (Linear + ReLU) layers on ``(B, D)`` tensors, one per network layer, dense or sparse
  (:func:`layer_structure` gives each layer's weights as a sparse part plus a group broadcast);
- :func:`ground_truth` says which neurons carry which circuit at every layer, each circuit's
  small weights, each circuit's share of every weight matrix, the cross-circuit couplings, how
  to encode inputs and decode outputs, and what the small system itself computes;
- :func:`save_network` / :func:`load_network` write and read a directory ``weights.safetensors`` +
  ``config.json`` (format :data:`FORMAT_VERSION`) that reproduces the network bit for bit;
- the module names every activation by its network layer (:class:`HookPoint`: ``layers.{l}.hook_pre``,
  ``layers.{l}.hook_post``, ``layers.0.hook_post`` the input), runs with hook functions
  (:meth:`ExportedNetwork.run_with_hooks`) and caches them (:meth:`ExportedNetwork.run_with_cache`);
- :meth:`GroundTruth.dataset` draws a :class:`Dataset` (inputs, active circuits, payloads, every
  layer, the intended and actual on-states, the reference run) that saves as one safetensors file
  (:func:`load_dataset`); :class:`ActivationStream` streams samples and their activations at chosen
  hooks, batch by batch, for as many samples as a method needs;
- in activation space the truth gives every circuit's directions (:meth:`GroundTruth.directions`),
  which circuits are actually on (:meth:`GroundTruth.on_state`) and itself as a dictionary
  (:meth:`GroundTruth.dictionary`); :func:`score_features` scores a dictionary of features (a sparse
  autoencoder through :func:`from_sae`) against it;
- :func:`score_decomposition` scores a method's weight components against the truth's
  (parameter-decomposition components through :func:`from_components`);
- :func:`save_plain_weights` and :func:`save_truth` write files others read without this package.

Layout: module input = layer 0 = the active circuits' first pre-activations
(:meth:`GroundTruth.encode`); ``module.layers[l]`` computes network layer ``l`` from layer
``l - 1``, ``ReLU(W[l] A + b)`` with ``W[1]`` the identity (``layers[0]`` passes the input on).
Neuron ``i N + n`` (``N = D/d``) is
slot ``n`` of group ``i`` (small neuron ``i`` of every circuit).

Example:
    >>> import tempfile
    >>> import numpy as np, torch
    >>> from circuits import build, rotation_circuits
    >>> from circuits.export import ground_truth, load_network, save_network, to_module
    >>> net = build(rotation_circuits(n_circuits=200, seed=0), width=1000, redundancy=6, n_layers=3, seed=0)
    >>> module = to_module(net)                   # 3 x (Linear + ReLU) on (B, 1000) tensors
    >>> module.layers[2]                          # network layer 2, with its two hook points
    Linear(
      in_features=1000, out_features=1000, bias=True
      (hook_pre): HookPoint()
      (hook_post): HookPoint()
    )
    >>> truth = ground_truth(net)
    >>> active = np.array([[3, 141], [59, 26]])   # (B, z): the circuits on in each sample
    >>> payloads = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.6, 0.8], [-0.8, 0.6]]])  # (B, z, 2)
    >>> x = truth.encode(active, payloads)        # (B, D) layer 0
    >>> with torch.no_grad():
    ...     acts = module.activations(x)          # layers 0..3, each (B, D)
    >>> on, payload = truth.decode(acts[3], layer=3, circuits=active)
    >>> on.round(3)                               # on-indicators: error-corrected to exactly 1
    array([[1., 1.],
           [1., 1.]])
    >>> want_on, want_payload = truth.reference(active, payloads)  # what the small circuits compute
    >>> np.linalg.norm(payload - want_payload[3], axis=-1).round(1)  # payload error from superposition
    array([[0.2, 0.3],
           [0.2, 0.2]])
    >>> truth.neurons[3, 141, 0]                  # neurons carrying small neuron 0 of circuit 141 at layer 3
    array([42, 43, 44, 45, 46, 47])
    >>> truth.contribution(141, 3).shape          # its share of W[3] (scipy sparse)
    (1000, 1000)
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = save_network(net, folder.name + "/net")    # weights.safetensors + config.json
    >>> with torch.no_grad():
    ...     torch.equal(to_module(load_network(path))(x), module(x))
    True
    >>> folder.cleanup()
"""

from ._adapters import from_components, from_sae
from ._artifacts import load_truth, save_plain_weights, save_truth
from ._dataset import Dataset, load_dataset
from ._dictionary import Dictionary
from ._features import FeatureScore, score_features
from ._ground_truth import GroundTruth, ground_truth
from ._module import ActivationCache, ExportedNetwork, HookPoint, feature_embedding, to_module
from ._readout import ACTUAL_ON_THRESHOLD
from ._saving import load_network, save_network
from ._scoring import DecompositionScore, score_decomposition
from ._stream import ActivationBatch, ActivationStream

__all__ = ["ACTUAL_ON_THRESHOLD", "ActivationBatch", "ActivationCache", "ActivationStream", "Dataset",
           "DecompositionScore", "Dictionary", "ExportedNetwork", "FeatureScore", "feature_embedding",
           "from_components", "from_sae", "ground_truth", "GroundTruth", "HookPoint", "load_dataset",
           "load_network", "load_truth", "save_network", "save_plain_weights", "save_truth", "score_decomposition",
           "score_features", "to_module"]

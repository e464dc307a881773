// LeukModel: CNN layers, LeukNet architectures, training, metrics and safetensors model files.

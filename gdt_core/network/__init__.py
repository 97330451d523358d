"""The network of section 3.1 (AlexNet, fc7 of 500) and how frames and boxes become its
features: frame tensors, pool5 by crops or by pooled reads, ImageNet weights."""

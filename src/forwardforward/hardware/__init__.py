"""What FF allows that backprop does not: black boxes between layers, noisy low-precision (analog) chips."""

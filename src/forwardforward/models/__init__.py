"""Model kinds beyond the MLP: convolutional and locally connected FF, recurrent FF with top-down
connections, and sequence FF."""

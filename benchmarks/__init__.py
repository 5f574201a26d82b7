"""Speed of dlbd_lib against PyTorch CPU: one training step, both engines in the same run."""

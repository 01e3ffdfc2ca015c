"""Training and test data: the synthetic sprites world (`maskmotion.data.sprites`)."""

"""Learning Machine Serverless: the domain package shipped to every function as a layer."""

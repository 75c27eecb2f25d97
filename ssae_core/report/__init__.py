"""Recipe step 5, reporting: comparison tables (matched L0, AUC, tail, concept recall,
specialization), figures, the offline HTML report, token highlighting and the Neuronpedia
export. Imports every stage below it; nothing imports it but ``demo``, ``study``, ``cli`` and the
pages."""

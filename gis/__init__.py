"""gis: coordinates, jurisdictions, demo district, cameras and spatial indexes."""

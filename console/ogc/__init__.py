"""OGC API - Features over the console's layers (``/ogc``): QGIS and GDAL read the layers in place."""

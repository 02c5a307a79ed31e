"""Installing evedge on the box: ``evedge install`` / ``evedge uninstall`` and the .deb.

``layout`` names every path, ``units`` and ``settings_file`` write the files, ``machine``
is what differs between the live system (users, systemctl) and a staging root,
``install`` / ``uninstall`` are the steps, ``debian`` builds the package from the same
parts. README "Deploying on the box".
"""
